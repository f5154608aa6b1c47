"""bgaug.saliency: unsupervised saliency without human labels — hand-crafted methods (RBD, MC, DSR, MB+),
the DeepUSPS2 detector, the mask bank (binary masks, tiled backgrounds, manifest), the mask pack (every
mask in one memory-mapped file, for fast random reads) and saliency metrics.
Command line: ``python -m bgaug.saliency {handcrafted,fit,predict,eval,pack,bench}``."""
