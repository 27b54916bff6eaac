"""photo2cartoon's face alignment: rotate so the eyes are level, then crop a square around the face.

The same geometry as upstream's utils/face_detect.py `__rotate` and utils/preprocess.py `__crop`.
"""
import math

import cv2
import numpy as np

LEFT_EYE_CORNER, RIGHT_EYE_CORNER = 36, 45


def eye_angle(landmarks):
    """Angle in radians of the line from the outer left to the outer right eye corner (0 = level)."""
    (lx, ly), (rx, ry) = landmarks[LEFT_EYE_CORNER], landmarks[RIGHT_EYE_CORNER]
    return math.atan((ly - ry) / (lx - rx)) if lx != rx else math.copysign(math.pi / 2, ly - ry)


def rotate_level_eyes(image, landmarks):
    """(rotated image, rotated landmarks, the 2x3 matrix from photo to rotated pixel coordinates): the whole
    photo rotated about its centre so the eye corners are level, the canvas grown to hold it, the new
    corners white."""
    radian = eye_angle(landmarks)
    height, width = image.shape[:2]
    cos, sin = math.cos(radian), math.sin(radian)
    new_w = int(width * abs(cos) + height * abs(sin))
    new_h = int(width * abs(sin) + height * abs(cos))
    tx, ty = new_w // 2 - width // 2, new_h // 2 - height // 2
    matrix = np.array([[cos, sin, (1 - cos) * width / 2. - sin * height / 2. + tx],
                       [-sin, cos, sin * width / 2. + (1 - cos) * height / 2. + ty]])
    rotated = cv2.warpAffine(image, matrix, (new_w, new_h), borderValue=(255, 255, 255))
    points = np.concatenate([landmarks, np.ones((len(landmarks), 1))], axis=1) @ matrix.T
    return rotated, points, matrix


def crop_box(landmarks):
    """(top, bottom, left, right), inclusive: the landmark box grown by 0.8h above, 0.3h below and 0.3w on
    each side, then widened or heightened about its middle into a square."""
    top, bottom = landmarks[:, 1].min(), landmarks[:, 1].max()
    left, right = landmarks[:, 0].min(), landmarks[:, 0].max()
    top, bottom = int(top - 0.8 * (bottom - top)), int(bottom + 0.3 * (bottom - top))
    left, right = int(left - 0.3 * (right - left)), int(right + 0.3 * (right - left))
    if bottom - top > right - left:
        left -= ((bottom - top) - (right - left)) // 2
        right = left + (bottom - top)
    else:
        top -= ((right - left) - (bottom - top)) // 2
        bottom = top + (right - left)
    return top, bottom, left, right


def crop_face(image, landmarks):
    """(crop, (left, top)): the square crop_box of `image`, white where the box leaves the image, and the
    crop's origin in the image."""
    top, bottom, left, right = crop_box(landmarks)
    crop = np.full((bottom - top + 1, right - left + 1, 3), 255, np.uint8)
    height, width = image.shape[:2]
    src_top, src_bottom = max(0, top), min(bottom, height - 1)
    src_left, src_right = max(0, left), min(right, width - 1)
    if src_top <= src_bottom and src_left <= src_right:
        dst_top, dst_left = src_top - top, src_left - left
        crop[dst_top:dst_top + src_bottom - src_top + 1, dst_left:dst_left + src_right - src_left + 1] = \
            image[src_top:src_bottom + 1, src_left:src_right + 1]
    return crop, (left, top)
