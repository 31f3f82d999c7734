# One model per row of config `runs`. The declared outputs are written when training ends; the
# resumable state lives in the undeclared ckpt/ folder beside them, because Snakemake deletes the
# declared outputs of a failed (or pre-empted) job and a retry must be able to resume.


rule train:
    input:
        valid=get_valid_set,
        monitored=get_monitored_sets,
        init=get_init_model,
    output:
        **run_folder.declared_outputs(layout.RUN_DIR, keeps_weak=False),
    log:
        "logs/{scale}/train/{run}.log",
    benchmark:
        "benchmarks/{scale}/train/{run}.tsv"
    wildcard_constraints:
        run=alternatives(PLAN.run_names(keeps_weak=False)),
    threads: 8
    # Operational settings are resources, which Snakemake does not watch: as params, a switch of
    # profile (device) or of checkpoint interval would retrain every model. profiles/cpu sets
    # device=cpu with gpu=0; "auto" is CUDA when present.
    resources:
        gpu=1,
        device="auto",
        checkpoint_minutes=get_checkpoint_minutes,
    params:
        run_dir=get_run_dir,
        options=get_train_options,
        monitor=get_monitor_flags,
    shell:
        "mathformer train {params.run_dir:q} {params.options} --valid {input.valid:q} {params.monitor}"
        " --checkpoint-minutes {resources.checkpoint_minutes} --device {resources.device}"
        " --threads {threads} > {log:q} 2>&1"


# Runs with `weak_accuracy` also keep weak.pt, the earlier, weaker snapshot the paper analyses.
# They are E1's eigenvector models, the longest trainings of a scale: started first, they run
# beside the others instead of after them (on 2 cores the quick run's wall time is theirs).
use rule train as train_keeping_weak with:
    output:
        **run_folder.declared_outputs(layout.RUN_DIR, keeps_weak=True),
    wildcard_constraints:
        run=alternatives(PLAN.run_names(keeps_weak=True)),
    priority: 10
