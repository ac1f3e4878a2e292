"""Image handling shared by the ImageFeaturizer and the ImageTextReader (OCR).

``images``: decode attachment bytes into an upright RGB picture (failures are catalogue errors).
``backbones``: load a CNN backbone once per process (the packaged EfficientNet-Lite0 or any
torchvision architecture with a local weights file), split into a feature extractor and its head.
``ocr``: the shared RapidOCR engine.
"""
