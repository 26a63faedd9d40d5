# Per-layer cross products and the ridge fit of every model: one job per layer for the layer, one
# per layer for its pairs with the earlier layers, one per partition set's model of 3+ layers.


# One job per layer for the layer itself (its cross products and its own fit) and one per
# layer for its joint models with every earlier layer (layout.jobs_by_layer's pairs):
# each job starts Python and torch once and reads the responses once for all its models.
# Appending a layer at the end of `layers` adds its two jobs and reruns no other fit (a
# layer inserted before others also reruns their pair jobs: their pairs are in config
# order); band ratios rerun the pair jobs only; a change of a layer's own fit settings
# (lambdas, intercept, refit, precision) reruns its cross products with it.


rule fit_layer:
    """One layer: normalised features and X'Y on train and holdout (reused by every model with the layer), then its ridge fit."""
    input:
        **{
            split: layout.path(layout.RESPONSES, subject="{subject}", split=split)
            for split in SPLITS
        },
        features=input_path("features"),
        prepared=layout.PREPARED,
        checked=feature_checks,
    output:
        crossprod=layout.CROSSPROD,
        fit=layout.path(layout.FIT, subject="{subject}", model="{layer}"),
    log:
        layout.LOG["fit_layer"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="fit_layer_{layer}")
    priority: job_priority("fits")
    conda:
        ENV
    threads: config["job_threads"]
    resources:
        **compute_resources(mem_mb=2000, runtime=30),
    params:
        ridge=lambda wc: configuration.ridge_params(config, [wc.layer]),
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/fit_layer.py"


for _layer, _plan in layout.jobs_by_layer(LAYERS).items():
    if not _plan["pairs"]:
        continue
    _rank = LAYERS.index(_layer)
    _models = [layout.model_name(p) for p in _plan["pairs"]]
    _designs = [a for a, _ in _plan["pairs"]] + [_layer]

    rule:
        name:
            f"fit_pairs_{_layer}"
        input:
            **{
                split: layout.path(layout.RESPONSES, subject="{subject}", split=split)
                for split in SPLITS
            },
            prepared=layout.PREPARED,
            crossprod=[
                layout.path(layout.CROSSPROD, subject="{subject}", layer=layer)
                for layer in _designs
            ],
        output:
            [layout.path(layout.FIT, subject="{subject}", model=m) for m in _models],
        log:
            layout.path(layout.LOG["fit_pairs"], subject="{subject}", layer=_layer),
        benchmark:
            layout.path(
                layout.BENCHMARK, subject="{subject}", job=f"fit_pairs_{_layer}"
            )
        priority: job_priority("fits", _rank)
        conda:
            ENV
        threads: config["job_threads"]
        resources:
            **compute_resources(mem_mb=2000, runtime=30),
        params:
            models=_models,
            designs=_designs,
            ridge=configuration.ridge_params(config, _plan["pairs"][0]),
            batch_size=config["ridge"]["batch_size"],
            device=config["device"],
        script:
            "../../scripts/fit_models.py"


rule fit:
    """Ridge for a partition set's model of 3+ layers (one job each, so that adding a set reruns no other fit)."""
    input:
        **{
            split: layout.path(layout.RESPONSES, subject="{subject}", split=split)
            for split in SPLITS
        },
        prepared=layout.PREPARED,
        crossprod=model_crossprods,
    output:
        layout.FIT,
    log:
        layout.LOG["fit"],
    benchmark:
        layout.path(layout.BENCHMARK, subject="{subject}", job="fit_{model}")
    wildcard_constraints:
        model=_alt(SET_ONLY_MODELS),
    priority: job_priority("fits")
    conda:
        ENV
    threads: config["job_threads"]
    resources:
        **compute_resources(mem_mb=2000, runtime=30),
    params:
        models=lambda wc: [wc.model],
        designs=lambda wc: layout.model_layers(wc.model),
        ridge=fit_params,
        batch_size=config["ridge"]["batch_size"],
        device=config["device"],
    script:
        "../../scripts/fit_models.py"
