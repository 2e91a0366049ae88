"""emotrain: train FER-2013 emotion CNNs at 48x48 and export them to ONNX for emocam."""
