"""Infrastructure as code: the CloudFormation templates lint clean and grant least privilege."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TEMPLATES = sorted((Path(__file__).parent.parent / "infra" / "cloudformation").glob("*.yaml"))


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation short forms (!Ref, !Sub, !GetAtt) as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
    ),
)


@pytest.mark.slow
def test_templates_pass_cfn_lint() -> None:
    assert TEMPLATES
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), *map(str, TEMPLATES)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_upstream_may_write_the_landing_bucket_but_not_read_or_delete() -> None:
    template = yaml.load(TEMPLATES[0].read_text(encoding="utf-8"), Loader=_CfnLoader)
    statements = template["Resources"]["LandingBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    allowed = {a for s in statements if s["Effect"] == "Allow" for a in s["Action"]}
    denied = {
        a
        for s in statements
        if s["Effect"] == "Deny" and s["Sid"].startswith("Upstream")
        for a in s["Action"]
    }
    assert allowed == {"s3:PutObject", "s3:AbortMultipartUpload"}
    assert {"s3:GetObject", "s3:DeleteObject"} <= denied


def test_public_read_covers_published_prefixes_only_and_the_pipeline_deletes_no_cells() -> None:
    template = yaml.load(TEMPLATES[0].read_text(encoding="utf-8"), Loader=_CfnLoader)
    (public,) = template["Resources"]["PublishedBucketPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    assert public["Action"] == "s3:GetObject"
    assert all(
        r.endswith(("/report_cells/*", "/reports/*", "/history/*")) for r in public["Resource"]
    )
    pipeline = template["Resources"]["PipelinePolicy"]["Properties"]["PolicyDocument"]["Statement"]

    def listed(value):
        return [value] if isinstance(value, str) else value

    deleting = [s for s in pipeline if any("Delete" in a for a in listed(s["Action"]))]
    # Only lock objects and the rendered files of a cut-off run: never cells, history or runs.
    assert [listed(s["Action"]) for s in deleting] == [["s3:DeleteObject"]]
    deletable = [
        r["Fn::Sub"] if isinstance(r, dict) else r for r in listed(deleting[0]["Resource"])
    ]
    assert all(r.endswith(("/.lock", "/reports/*", "/validation/*")) for r in deletable)
    assert (
        template["Resources"]["LandingBucket"]["Properties"]["VersioningConfiguration"]["Status"]
        == "Enabled"
    )
    assert (
        template["Resources"]["PublishedBucket"]["Properties"]["VersioningConfiguration"]["Status"]
        == "Enabled"
    )
