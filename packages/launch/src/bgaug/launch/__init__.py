"""bgaug.launch: the ``bgaug`` command (umbrella over every package's CLI), Ray Train pretraining
(``bgaug pretrain``), Ray Tune sweeps of p_pos / p_neg (``bgaug sweep``) and the end-to-end demo
(``bgaug demo``). Nothing here starts Ray at import."""
