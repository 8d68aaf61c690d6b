"""Reading published reports for ``nianbao audit`` (issue 12): any file into cells."""
