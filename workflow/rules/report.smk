# The report: papermill runs each notebook of workflow/notebooks over this scale's tables and
# figures, and nbconvert joins them into one HTML page that sets the numbers beside the paper's.


rule render_report:
    input:
        analyses=get_report_inputs,
        notebooks=NOTEBOOKS,
        claims=CLAIMS,
    output:
        html=report("results/{scale}/report/report.html", category="Report"),
        notebooks=report_notebooks(),
    log:
        "logs/{scale}/report.log",
    params:
        notebook_dir=NOTEBOOK_DIR,
    conda:
        "../../environment.yml"
    shell:
        "mathformer report --notebook-dir {params.notebook_dir} --results results/{wildcards.scale}"
        " --claims {input.claims} --out results/{wildcards.scale}/report > {log} 2>&1"
