"""Set-up step: python -m preprocess.fetch_models

Fetches the selfie-segmentation model (MediaPipe, Apache-2.0, 250 KB) that the default face preprocessing
runs offline. It ships only inside the `mediapipe==0.10.21` wheel, whose protobuf<5 pin cannot live beside
MindSpore's protobuf>=7, so we take that one file out of the wheel (pip download, no install) and check its
SHA-256. Run once at set-up, where PyPI is reachable; nothing is downloaded at run time.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

from .segment import SELFIE_MODEL, SELFIE_SHA256

WHEEL = 'mediapipe==0.10.21'
MEMBER = 'mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite'


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    if os.path.exists(SELFIE_MODEL) and sha256(SELFIE_MODEL) == SELFIE_SHA256:
        print(f'{SELFIE_MODEL}: present')
        return 0
    with tempfile.TemporaryDirectory() as folder:
        # Any platform's wheel carries the same file; name one so the result does not depend on this host.
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '--only-binary=:all:',
                        '--platform', 'manylinux_2_28_x86_64', '--python-version', '3.11', '--dest', folder, WHEEL],
                       check=True)
        (wheel,) = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith('.whl')]
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MEMBER)
    if hashlib.sha256(data).hexdigest() != SELFIE_SHA256:
        print(f'error: {MEMBER} from {WHEEL} does not have the expected SHA-256', file=sys.stderr)
        return 1
    os.makedirs(os.path.dirname(SELFIE_MODEL), exist_ok=True)
    with open(SELFIE_MODEL, 'wb') as f:
        f.write(data)
    print(f'{SELFIE_MODEL}: fetched from {WHEEL}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
