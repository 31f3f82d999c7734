# The report: papermill runs each notebook of workflow/notebooks over this scale's tables and
# figures, and nbconvert joins them into one HTML page; claims.* sets each of the paper's numbers
# beside this run's, with a verdict.


rule render_report:
    input:
        analyses=get_report_inputs,
        notebooks=NOTEBOOKS,
        claims=CLAIMS,
    output:
        html=report("results/{scale}/report/report.html", category="Report"),
        claims=report(
            "results/{scale}/report/claims.csv",
            category="Report",
            labels={"kind": "table", "name": "the paper's numbers beside this run"},
        ),
        claims_md="results/{scale}/report/claims.md",
        metrics="results/{scale}/report/metrics.json",
        claims_tex="results/{scale}/report/claims.tex",
        notebooks=report_notebooks(),
    log:
        "logs/{scale}/report.log",
    params:
        notebook_dir=NOTEBOOK_DIR,
    shell:
        "mathformer report --notebook-dir {params.notebook_dir:q} --results results/{wildcards.scale}"
        " --claims {input.claims:q} --out results/{wildcards.scale}/report > {log:q} 2>&1"
