"""``reproduce``: an explicit registry of experiments (:mod:`.registry`), checks with negative controls
(:mod:`.checks`), one executor for independent seeds (:mod:`.executor`) and the report writer (:mod:`.report`);
one module per experiment. ``python -m ridgeviz reproduce --help`` lists them."""
