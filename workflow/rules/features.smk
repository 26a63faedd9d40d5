# Features extracted from the stimulus images (extractors:), and the images demo subject.


localrules:
    demo_images_subject,


# One rule per extractor in use: one forward pass per PCA pass yields all of its layers.
for _name, _nodes in EXTRACTORS.items():

    rule:
        name:
            f"extract_{_name}"
        input:
            unpack(extractor_inputs),
        output:
            [
                layout.path(layout.FEATURES, subject="{subject}", layer=layer)
                for layer in _nodes
            ],
        log:
            layout.path(
                layout.LOG["extract_features"], subject="{subject}", extractor=_name
            ),
        benchmark:
            layout.path(layout.BENCHMARK, subject="{subject}", job=f"extract_{_name}")
        conda:
            ENV
        threads: max(config["job_threads"], 2)
        resources:
            mem_mb=lambda wc, attempt: 6000 * attempt,
            runtime=lambda wc, attempt: 120 * attempt,
            gpu=1 if configuration.extractor_uses_gpu(config, _name) else 0,
        params:
            name=_name,
            extractor=configuration.extractor_params(config, _name),
            nodes=dict(_nodes),
            stimuli=extractor_stimuli,
            split=extractor_split(_name),
        script:
            "../../scripts/extract_features.py"


rule demo_images_subject:
    """Synthetic stimulus images and a subject whose voxels the extractor's network drives (full activations)."""
    input:
        anatomy=rules.demo_anatomy.output[0],
    output:
        **{key: layout.INPUTS[key] for key in ("betas", "image_info", "roi_info")},
        stimuli=layout.INPUTS["stimuli"],
        ground_truth=layout.GROUND_TRUTH,
    log:
        layout.LOG["demo_images_subject"],
    wildcard_constraints:
        subject=_alt(DEMO_IMAGES_SUBJECTS),
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        demo=lambda wc: subject_cfg(wc.subject)["demo_images"],
        extractor=lambda wc: configuration.network_params(
            config, subject_cfg(wc.subject)["demo_images"]["extractor"]
        ),
        nodes=lambda wc: {
            layer: config["extractors"][
                subject_cfg(wc.subject)["demo_images"]["extractor"]
            ]["nodes"][layer]
            for layer in LAYERS
        },
        stimuli=lambda wc: subject_cfg(wc.subject)["stimuli"],
    script:
        "../../scripts/demo_images_subject.py"
