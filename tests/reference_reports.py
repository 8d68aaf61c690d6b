"""Published reports transcribed by hand: the numbers the pipeline must reproduce.

重庆市綦江区城市管理局, 2024年政府信息公开工作年度报告 (published January 2025). Transcribed from the
published text table by table; not produced by nianbao.
"""

QIJIANG_CGJ_2024 = {
    "agency_id": "cq-qijiang-cgj",
    "year": 2024,
    # 一、总体情况: "通过政府网站公开信息152条，“綦江城管”微信公众号公开信息60条，“綦江城管执法”微信公众号公开信息22条"
    "channels": {"website": 152, "wechat:綦江城管": 60, "wechat:綦江城管执法": 22, "total": 234},
    # 二、主动公开政府信息情况
    "proactive": {
        ("regulations", "issued"): "0",
        ("regulations", "repealed"): "0",
        ("regulations", "in_force"): "0",
        ("normative_documents", "issued"): "0",
        ("normative_documents", "repealed"): "0",
        ("normative_documents", "in_force"): "0",
        ("licensing", "decisions"): "1322",
        ("penalty", "decisions"): "532",
        ("enforcement", "decisions"): "0",
        ("fees", "amount_10k_yuan"): "727.08",
    },
    # 三、收到和处理政府信息公开申请情况: rows in table order, columns 自然人, 商业企业, 科研机构,
    # 社会公益组织, 法律服务机构, 其他, 总计.
    "requests": [
        [1, 0, 0, 0, 0, 0, 1],  # 一、本年新收
        [0, 0, 0, 0, 0, 0, 0],  # 二、上年结转
        [1, 0, 0, 0, 0, 0, 1],  # （一）予以公开
        [0, 0, 0, 0, 0, 0, 0],  # （二）部分公开
        *([[0] * 7] * 8),  # （三）不予公开 1–8
        *([[0] * 7] * 3),  # （四）无法提供 1–3
        *([[0] * 7] * 5),  # （五）不予处理 1–5
        *([[0] * 7] * 3),  # （六）其他处理 1–3
        [1, 0, 0, 0, 0, 0, 1],  # （七）总计
        [0, 0, 0, 0, 0, 0, 0],  # 四、结转下年度继续办理
    ],
    # 四、行政复议、行政诉讼: 复议 (维持, 纠正, 其他, 未审结, 总计), 直接起诉 (same), 复议后起诉 (same).
    "appeals": [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
}
