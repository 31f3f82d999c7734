# mathformer: a replication of F. Charton (2022), "What is my math transformer doing?", as a
# Snakemake workflow. The rules call the `mathformer` CLI; see README.md and config/README.md.
#
# Every output lies under results/<scale>/ (config key `scale`; patterns: mathformer.formats.results_layout):
#   data/<task>/n<n>_<law>_A<range>/<spectrum>_<role>.npz   fixed valid / test / ood sets
#   models/<run>/{model.pt,weak.pt,train_log.csv,config.yaml,env.json}   (+ undeclared ckpt/)
#   eval/<run>/<model|weak>/<spectrum>_<role>.{parquet,json}   predictions and accuracy summary
#   tables/*.{csv,md,tex}, figures/*.{pdf,png}, report/report.html
# Logs go to logs/<scale>/, Snakemake benchmarks to benchmarks/<scale>/.

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


try:
    validate(config, "workflow/schemas/config.schema.yaml")
except WorkflowError as error:
    # Snakemake's message dumps the schema and the config (~1,000 lines): say where and why.
    reason = error.__context__  # jsonschema's ValidationError: $.runs[0].spectrum and why
    where = getattr(reason, "json_path", "$").removeprefix("$").lstrip(".") or "the top level"
    why = getattr(reason, "message", str(error).splitlines()[0])
    raise ValueError(f"config error at {where}: {why}") from None


report: "workflow/report/workflow.rst"


##### load rules #####


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/report.smk"


##### target rules #####
# `snakemake <target>` builds one stage (and what it needs): data, models, evaluation,
# failures (results 1 and 2), ood (result 3), figures, tables, report; `all` is everything.


localrules:
    all,
    data,
    models,
    evaluation,
    failures,
    ood,
    figures,
    tables,
    report,
    analyse_roughly_right,
    analyse_predictability,
    analyse_ood,
    analyse_training,
    render_report,


# `all` names the models and evaluations too: results/quick/ ships its tables and report in git,
# and without them a fresh clone would only redraw the report, never train.
rule all:
    default_target: True
    input:
        PLAN.all_models(),
        PLAN.all_evaluations(),
        analysis_outputs(PLAN),
        PLAN.paths.report,


rule data:
    input:
        PLAN.all_datasets(),


rule models:
    input:
        PLAN.all_models(),


rule evaluation:
    input:
        PLAN.all_evaluations(),


rule failures:
    input:
        analysis_outputs(PLAN, only=catalogue.FAILURE_ANALYSES),


rule ood:
    input:
        analysis_outputs(PLAN, only=["ood"]),


rule figures:
    input:
        analysis_outputs(PLAN, folder=catalogue.FOLDERS["figure"]),


rule tables:
    input:
        analysis_outputs(PLAN, folder=catalogue.FOLDERS["table"]),


rule report:
    input:
        PLAN.paths.report,
