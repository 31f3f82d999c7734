# The report: papermill runs each notebook of workflow/notebooks over this scale's tables and
# figures, and nbconvert joins them into one HTML page; claims.* sets each of the paper's numbers
# beside this run's, with a verdict.


rule render_report:
    input:
        analyses=get_report_inputs,
        notebooks=NOTEBOOKS,
        claims=CLAIMS,
    output:
        html=report(layout.REPORT, category="Report"),
        claims=report(
            f"{layout.REPORT_DIR}/{layout.CLAIMS_TABLE}.csv",
            category="Report",
            labels={"kind": "table", "name": "the paper's numbers beside this run"},
        ),
        claims_md=f"{layout.REPORT_DIR}/{layout.CLAIMS_TABLE}.md",
        metrics=f"{layout.REPORT_DIR}/{layout.METRICS}",
        claims_tex=f"{layout.REPORT_DIR}/{layout.CLAIMS_TABLE}.tex",
        notebooks=[f"{layout.REPORT_DIR}/{notebook.stem}.ipynb" for notebook in NOTEBOOKS],
    log:
        "logs/{scale}/report.log",
    params:
        notebook_dir=NOTEBOOK_DIR,
    shell:
        f"mathformer report --notebook-dir {{params.notebook_dir:q}} --results {SHELL_RESULTS}"
        f" --claims {{input.claims:q}} --out {SHELL_REPORT_DIR} > {{log:q}} 2>&1"
