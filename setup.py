"""MindSpore ports of photo2cartoon / U-GAT-IT and U^2-Net, with PyTorch references that prove them exact."""
from setuptools import find_packages, setup

setup(
    name='portrait-art-mindspore',
    version='0.1.0',
    description=__doc__,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',  # LICENSE; NOTICE names the upstream projects whose layouts are reproduced
    classifiers=['License :: OSI Approved :: Apache Software License', 'Programming Language :: Python :: 3'],
    python_requires='>=3.9,<3.12',
    packages=find_packages(include=['core', 'ms_models', 'torch_ref', 'weights_convert', 'apps', 'preprocess', 'parity',
                                    'web']),
    package_data={'web': ['site/*']},  # the page itself: html, css, js modules
    entry_points={'console_scripts': ['portrait-art = apps.console:main']},
    # MindSpore inference needs only these; PyTorch is for the references, the converter and preprocessing.
    install_requires=['mindspore==2.10.0', 'numpy<2', 'opencv-contrib-python==4.11.0.86', 'tqdm', 'av==18.1.0'],
    extras_require={
        'torch': ['torch==2.13.0'],
        'preprocess': ['dlib-bin==20.0.1.post1', 'face-recognition-models==0.3.0', 'ai-edge-litert==2.3.0',
                       'scikit-image==0.26.0'],
        'export': ['onnx==1.23.2', 'onnxruntime'],  # also what python -m web build needs
        'test': ['pytest', 'onnxruntime', 'matplotlib', 'playwright==1.65.2'],
    },
)
