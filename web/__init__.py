"""The browser part: a static page (site/) that runs the project's ONNX exports with onnxruntime-web, the
command that assembles it from a user's weights (build), and a local server for it (serve)."""
