"""The image side of every pipeline, framework-free (numpy, OpenCV, Pillow, dlib, LiteRT).

Reading photos and videos, face detection and alignment, segmentation, the models' input and output
transforms, and running a task over files, folders and videos. Model forwards come in as plain callables
(numpy in, numpy out), so the same code drives MindSpore and the PyTorch references.
"""
