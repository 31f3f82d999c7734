# The paper's three results, from the predictions tables and training logs. Each analysis writes
# its tables (CSV, Markdown, LaTeX) to results/<scale>/tables/ and its figures (PDF, PNG) to
# results/<scale>/figures/; the CSV and PNG are also the items of `snakemake --report`. Their
# names come from mathformer.analysis.catalogue (see analysis_files in common.smk).


# Result 1: on its failures the eigenvector model still gets the eigenvalues and the norms right.
rule analyse_roughly_right:
    input:
        unpack(get_roughly_right_inputs),
        _claims=CLAIMS,
    output:
        **analysis_files("roughly_right"),
    log:
        "logs/{scale}/analyse/roughly_right.log",
    params:
        runs=get_run_flags,
    shell:
        f"mathformer analyse roughly-right {{params.runs}} --claims {{input._claims:q}} --out {SHELL_RESULTS}"
        " > {log:q} 2>&1"


# Result 2: failures are predictable from the problem or from the predicted solution.
rule analyse_predictability:
    input:
        unpack(get_predictability_inputs),
        _claims=CLAIMS,
    output:
        **analysis_files("predictability"),
    log:
        "logs/{scale}/analyse/predictability.log",
    params:
        runs=get_run_flags,
    shell:
        f"mathformer analyse predictability {{params.runs}} --claims {{input._claims:q}} --out {SHELL_RESULTS}"
        " > {log:q} 2>&1"


# Result 3: the training spectrum decides how far an eigenvalue model generalizes.
rule analyse_ood:
    input:
        summaries=get_ood_summaries,
        train_logs=get_ood_logs,
    output:
        **analysis_files("ood"),
    log:
        "logs/{scale}/analyse/ood.log",
    params:
        flags=get_ood_flags,
    shell:
        f"mathformer analyse ood {{params.flags}} --out {SHELL_RESULTS} > {{log:q}} 2>&1"


# How each model trained, and a copy of its training log that git keeps (DVC keeps models/).
rule analyse_training:
    input:
        logs=expand(f"{layout.RUN_DIR}/{run_folder.TRAIN_LOG}", scale="{scale}", run=PLAN.runs),
        configs=expand(f"{layout.RUN_DIR}/{run_folder.CONFIG}", scale="{scale}", run=PLAN.runs),
    output:
        **analysis_files("training"),
        logs=expand(layout.TRAIN_LOG_COPY, scale="{scale}", run=PLAN.runs),
    log:
        "logs/{scale}/analyse/training.log",
    params:
        flags=get_training_flags,
    shell:
        f"mathformer analyse training {{params.flags}} --out {SHELL_RESULTS} > {{log:q}} 2>&1"
