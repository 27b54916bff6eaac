"""Photo -> cartoon (photo2cartoon), pencil portrait / mask (U^2-Net) or line art (ArtLine), and sketch -> face
(DeepFaceDrawing), computed by the MindSpore ports."""
import argparse
import logging
import os
import sys

os.environ.setdefault('GLOG_v', '3')  # MindSpore's own log: errors only

from core.cli import run_cli  # noqa: E402
from core.registry import TEST_MODELS as MODELS  # noqa: E402
from preprocess.images import IMAGE_EXTENSIONS, InputError  # noqa: E402

EXAMPLES = """
examples:
  python test.py --photo_path photo.jpg --save_path cartoon.png --weights photo2cartoon_weights.pt
  python test.py --photo_path photos/ --save_path cartoons/ --save_aligned
  python test.py --photo_path face_256.png --save_path cartoon.png --aligned
  python test.py --photo_path friends.jpg --save_path friends_cartoon.png --all_faces --paste_back
  python test.py --model u2net_portrait --photo_path photo.jpg --save_path drawing.png --weights u2net_portrait.pth
  python test.py --model u2net_portrait --photo_path photo.jpg --save_path face.png --face_crop
  python test.py --model u2net_portrait --video_path clip.mp4 --save_path drawn.mp4
  python test.py --model u2net_human_seg --photo_path photo.jpg --save_path cutout.png --background transparent
  python test.py --model artline --photo_path me.jpg --save_path lines.png --weights ArtLine_650.pkl --size 800
  python test.py --photo_path photos/ --save_path cartoons/ --all_faces --report run.json
  python test.py --model deepfacedrawing --photo_path sketch.png --save_path face.png --weights Params/
  python test.py --model deepfacedrawing --photo_path sketches/ --save_path faces/ --gender female --part_weights mouth=0.5
  msrun --worker_num=2 --local_worker_num=2 --join=True test.py --photo_path big/ --save_path out/ --distribute
  msrun --worker_num=2 --local_worker_num=2 --join=True test.py --model u2net_portrait --video_path long.mp4 --save_path drawn.mp4 --distribute

Weights: photo2cartoon_weights.pt (photo2cartoon README) or a converted genA2B.ckpt; u2net*.pth from the
U-2-Net README; ArtLine_650.pkl (the fastai export, read without running it); DeepFaceDrawing's Params/ folder
(Jittor .pkl files, read without Jittor) or what python -m weights_convert makes of it; or their .ckpt. Without
--weights, ./models/ and ./saved_models/<model>/ are searched.
A .pt/.pth is converted once and the .ckpt kept beside it. A folder as --photo_path is processed whole,
its tree mirrored under --save_path. Exit status: 0 done, 1 nothing could be done, 3 some inputs failed.
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--photo_path', help='a photo, or a folder of photos')
    source.add_argument('--video_path', help='a video (U^2-Net models, artline): every frame, same size and frame rate')
    parser.add_argument('--save_path', required=True, help='output file (.png, .jpg; .mp4/.avi for video) or folder')
    parser.add_argument('--model', choices=MODELS, default='photo2cartoon', help='default: %(default)s')
    parser.add_argument('--weights', help='official .pt/.pth or converted .ckpt (see below)')
    parser.add_argument('--device_target', choices=('CPU', 'GPU', 'Ascend'), default='CPU')
    parser.add_argument('--mode', choices=('graph', 'pynative'), default='graph',
                        help='MindSpore execution: graph (compiled once per input size, fast) or pynative')
    parser.add_argument('--detector', choices=('dlib', 'fan'), default='dlib', help='face landmarks backend')
    parser.add_argument('--segmenter', choices=('selfie', 'u2net_human_seg'), default='selfie',
                        help='photo2cartoon background mask: MediaPipe selfie model, or U^2-Net human '
                             'segmentation (needs --segmenter_weights)')
    parser.add_argument('--segmenter_weights', help='u2net_human_seg.pth or .ckpt for --segmenter u2net_human_seg')
    parser.add_argument('--all_faces', action='store_true', help='photo2cartoon: every face, not only the largest')
    parser.add_argument('--paste_back', action='store_true',
                        help='photo2cartoon: the cartoon face(s) warped back into the photo, at its size')
    parser.add_argument('--save_aligned', action='store_true',
                        help='photo2cartoon: also save the aligned face and its mask (<name>_aligned, <name>_mask)')
    parser.add_argument('--aligned', action='store_true',
                        help='photo2cartoon: the photos are aligned faces already (e.g. --save_aligned\'s crop, '
                             'its mask as alpha): no detection, the generator and compositing only')
    parser.add_argument('--face_crop', action='store_true',
                        help='u2net_portrait: draw the largest face, cropped as the upstream demo does')
    parser.add_argument('--background', choices=('mask', 'white', 'transparent'), default='mask',
                        help='u2net, u2netp, u2net_human_seg: the mask, or the photo on white / transparent')
    parser.add_argument('--size', type=int, help='artline: the longer side the network sees, in pixels (default: the '
                        'export\'s training size, else 650); U^2-Net models: its square input side (default: 512 for '
                        'u2net_portrait, else 320); the result comes back at the photo\'s size')
    parser.add_argument('--gender', choices=('male', 'female'), help='deepfacedrawing: whose latent bank the parts '
                        'are projected onto (upstream\'s default: male)')
    parser.add_argument('--part_weights', help='deepfacedrawing: how far each part moves from the sketch onto the '
                        'faces the model knows, 0 to 1 (default 1 each), e.g. eye1=0.8,eye2=0.8,mouth=0.5')
    parser.add_argument('--distribute', action='store_true',
                        help='under msrun: each worker takes its share of a folder\'s sorted photos or of a video\'s '
                             'frames; rank 0 joins the video and gives the summary')
    parser.add_argument('--skip_existing', action='store_true',
                        help='leave out photos whose output exists (a rerun of a big folder continues)')
    parser.add_argument('--report', help='write a JSON report of a photo, folder or video run here: per input its '
                        'status, faces found and drawn, seconds, output and error (the numbers of the summary)')
    parser.add_argument('--quiet', action='store_true', help='no progress bars or step timings')
    return parser.parse_args(argv)


def load_release(name, explicit=None):
    """The MindSpore network of official release `name`, from `explicit` or the folders searched."""
    from core.registry import RELEASES, find_weights
    from weights_convert import load_network
    release = RELEASES[name]
    return load_network(find_weights(name, explicit), release.network, release.archs, cache=True)


def build_task(args):
    """The per-image function for args.model, its networks loaded (MindSpore)."""
    from ms_models.inference import Predictor

    from core.registry import RELEASES

    if args.model == 'deepfacedrawing':
        from core.registry import find_weights
        from preprocess.sketch_face import mindspore_task, parse_part_weights
        return mindspore_task(find_weights(args.model, args.weights), args.gender or 'male',
                              parse_part_weights(args.part_weights)), None
    network = load_release(args.model, args.weights)
    logging.info('%s: %s', args.model, network.describe())
    predict = Predictor(network.net)
    side = args.size or RELEASES[args.model].input_side(network.arch)
    if args.model == 'photo2cartoon' and args.aligned:
        from preprocess.cartoon import AlignedCartoonizer
        return AlignedCartoonizer(predict), None
    if args.model == 'photo2cartoon':
        from preprocess.cartoon import Cartoonizer, FacePreprocessor
        from preprocess.faces import landmark_detector
        preprocessor = FacePreprocessor(landmark_detector(args.detector), _segmenter(args))
        return Cartoonizer(predict, preprocessor, args.all_faces, args.save_aligned, args.paste_back), preprocessor
    if args.model == 'u2net_portrait':
        from preprocess.faces import landmark_detector
        from preprocess.u2net_tasks import PortraitDrawing
        return PortraitDrawing(predict, landmark_detector(args.detector) if args.face_crop else None, side), None
    if args.model == 'artline':
        from preprocess.line_art import LineArt
        return LineArt(predict, artline_size(args)), None
    from preprocess.u2net_tasks import SalientObject
    return SalientObject(predict, args.background, side), None


def artline_size(args):
    """--size, else the training size a fastai export names, else ArtLine_650's."""
    from preprocess.line_art import DEFAULT_SIZE
    if args.size:
        return args.size
    from core.registry import find_weights
    path = find_weights('artline', args.weights)
    if not path.endswith('.ckpt'):
        from weights_convert.checkpoints import ConversionError
        from weights_convert.fastai_export import read_fastai_export
        try:
            size = read_fastai_export(path, weights=False).size
        except ConversionError:  # a plain state dict: no settings in it
            size = None
        if size:
            return max(size)
    return DEFAULT_SIZE


def _segmenter(args):
    from preprocess import segment
    if args.segmenter == 'selfie':
        return segment.SelfieSegmenter()
    from ms_models.inference import Predictor
    return segment.U2NetHumanSegmenter(Predictor(load_release('u2net_human_seg', args.segmenter_weights).net))


def check_inputs(args):
    """Every path and flag checked before any model is loaded; returns the (input, output) pairs of a
    photo run to do and those --skip_existing leaves out ((None, []) for a video)."""
    from core.files import check_writable
    from core.registry import find_weights
    source = args.photo_path or args.video_path
    if not os.path.exists(source):
        raise InputError(f'{source}: no such file or folder')
    if args.size is not None and not 16 <= args.size <= 8192:
        what = 'the longer side' if args.model == 'artline' else 'the square input side'
        raise InputError(f'--size {args.size}: give {what} in pixels, 16 to 8192')
    if args.size is not None and args.model == 'photo2cartoon':
        raise InputError('--size is for artline and the U^2-Net models; photo2cartoon draws at its generator\'s size')
    if args.aligned and args.model != 'photo2cartoon':
        raise InputError('--aligned is for photo2cartoon (faces aligned already)')
    if args.paste_back and (args.model != 'photo2cartoon' or args.aligned):
        raise InputError('--paste_back is for photo2cartoon on photos (an aligned face has no photo to go back to)')
    if (args.gender or args.part_weights) and args.model != 'deepfacedrawing':
        raise InputError('--gender and --part_weights are for --model deepfacedrawing')
    if args.model == 'deepfacedrawing':
        _check_deepfacedrawing(args)
    find_weights(args.model, args.weights)
    if args.report:
        _check_report(args)
    if args.model == 'photo2cartoon' and args.segmenter == 'u2net_human_seg':
        find_weights('u2net_human_seg', args.segmenter_weights)
    if args.video_path:
        _check_video(args)
        return None, []
    if args.distribute and not os.path.isdir(args.photo_path):
        raise InputError('--distribute shares out the photos of a folder or the frames of a video: give a folder '
                         'as --photo_path, or --video_path')
    jobs, skipped = _photo_jobs(args)
    transparent = args.background == 'transparent' and args.model in ('u2net', 'u2netp', 'u2net_human_seg')
    for _, dst in jobs[:1]:
        if transparent and not dst.lower().endswith(('.png', '.webp', '.tif', '.tiff')):
            raise InputError(f'{dst}: a transparent result needs a .png (or .webp/.tif) file name')
        check_writable(dst)
    return jobs, skipped


def _check_deepfacedrawing(args):
    from preprocess.sketch_face import parse_part_weights
    from weights_convert.deepfacedrawing import is_dfd_folder
    parse_part_weights(args.part_weights)
    if args.video_path or args.size:
        raise InputError('deepfacedrawing draws one 512x512 face per sketch image: no --video_path, no --size')
    if args.weights and os.path.exists(args.weights) and not is_dfd_folder(args.weights):
        raise InputError(f'--weights {args.weights}: deepfacedrawing takes a folder, upstream\'s Params/ (with '
                         'AE_whole/ and Combine/) or one made by python -m weights_convert Params/ OUT/')


def _check_report(args):
    from core.files import check_writable
    if not args.report.lower().endswith('.json'):
        raise InputError(f'--report {args.report}: name the report *.json')
    source = args.photo_path or args.video_path
    if os.path.exists(args.report) and os.path.samefile(args.report, source):
        raise InputError(f'--report {args.report} is the input: choose another name')
    check_writable(args.report)


def _check_video(args):
    from preprocess.video import check_video_name, open_video
    if args.model == 'photo2cartoon':
        raise InputError('photo2cartoon draws one face crop per photo; --video_path is for the U^2-Net models and '
                         'artline')
    if args.video_path.lower().endswith(IMAGE_EXTENSIONS):
        raise InputError(f'{args.video_path} is an image: pass it as --photo_path')
    if args.background == 'transparent':
        raise InputError('videos have no transparency: use --background mask or white')
    check_video_name(args.save_path)
    if os.path.exists(args.save_path) and os.path.samefile(args.save_path, args.video_path):
        raise InputError(f'{args.save_path} is the input video: choose another --save_path')
    from core.files import check_writable
    check_writable(args.save_path)
    open_video(args.video_path)


def _photo_jobs(args):
    """(input, output) pairs: a folder's tree mirrored under --save_path, or one photo; none overwriting an
    input or each other; with --skip_existing, those whose output exists are left out."""
    from preprocess import batch
    if os.path.isdir(args.photo_path):
        if args.save_path.lower().endswith(IMAGE_EXTENSIONS) or os.path.isfile(args.save_path):
            raise InputError(f'{args.photo_path} is a folder: --save_path must be a folder too, not {args.save_path}')
        jobs = batch.folder_jobs(args.photo_path, args.save_path)
    else:
        save_path = args.save_path
        if os.path.isdir(save_path):
            save_path = os.path.join(save_path, os.path.splitext(os.path.basename(args.photo_path))[0] + '.png')
        elif not save_path.lower().endswith(IMAGE_EXTENSIONS):
            raise InputError(f'{args.save_path}: give an image file name ({", ".join(IMAGE_EXTENSIONS)}) or a folder')
        jobs = [(args.photo_path, save_path)]
    batch.check_jobs(jobs, ('', '_aligned', '_mask') if args.save_aligned else ('',))
    if not args.skip_existing:
        return jobs, []
    kept = [(src, dst) for src, dst in jobs if not os.path.exists(dst)]
    logging.info('--skip_existing: %d of %d outputs exist already, %d to do', len(jobs) - len(kept), len(jobs),
                 len(kept))
    return kept, [job for job in jobs if job not in kept]


def run(args):
    from preprocess import batch

    jobs, skipped = check_inputs(args)
    if jobs == []:
        logging.info('nothing to do: every output exists (--skip_existing)')
        if args.report:
            _write_report(batch.photo_report(batch.Summary(), skipped), args.report)
        return 0
    from ms_models.inference import configure
    configure(args.device_target, args.mode)
    task, preprocessor = build_task(args)

    if args.video_path:
        summary = _distributed_video(args, task) if args.distribute else \
            batch.run_on_video(task, args.video_path, args.save_path, progress=not args.quiet)
        if summary is None:  # a worker other than rank 0: its segment is in, rank 0 says the rest
            return 0
        logging.info('%d frames in %.1f s (%.2f frames/s) -> %s', summary.done, summary.seconds,
                     summary.done / max(summary.seconds, 1e-9), args.save_path)
        logging.info('%s', summary.flicker.describe())
        if args.report:
            _write_report(batch.video_report(summary, args.video_path, args.save_path), args.report)
        return 0

    rank, world = 0, 1
    if args.distribute:
        from ms_models.inference import join_job
        rank, world = join_job()
    mine = jobs[rank::world]  # the sorted list, dealt round: each output written by exactly one worker
    if args.distribute:
        logging.info('rank %d in a world of %d: %d of the %d photos', rank, world, len(mine), len(jobs))
    from preprocess.images import read_rgb, read_rgba
    summary = batch.run_on_images(task, mine, progress=not args.quiet, read=read_rgba if args.aligned else read_rgb)
    if args.distribute:
        from ms_models.inference import barrier
        summary = batch.gather_summaries(summary, rank, world, _rank_folder(args), barrier)
        if rank != 0:  # rank 0 says it all, once
            return _status(summary)
    if args.report:
        _write_report(batch.photo_report(summary, skipped), args.report)
    if len(jobs) == 1 and summary.failed:
        raise InputError(summary.failed[0][1])
    if len(jobs) == 1 and preprocessor is not None and not args.quiet:
        logging.info('preprocessing: %s', ', '.join(f'{k} {v * 1000:.0f} ms' for k, v in preprocessor.timings.items()))
    logging.info('%d of %d done in %.1f s -> %s', summary.done, len(jobs), summary.seconds,
                 jobs[0][1] if len(jobs) == 1 else args.save_path)
    for _, message in summary.failed:
        logging.info('  failed: %s', message)
    return _status(summary)


def _write_report(report, path):
    from preprocess.batch import write_report
    write_report(report, path)
    logging.info('report -> %s', path)


def _distributed_video(args, task):
    """Under msrun: each worker draws its consecutive share of the frames; rank 0 joins the segments with
    the sound and returns the summary (the others None)."""
    from ms_models.inference import barrier, join_job
    from preprocess import batch
    from preprocess.video import open_video
    rank, world = join_job()
    count = open_video(args.video_path).count
    if not count:
        raise InputError(f'{args.video_path}: the container does not say how many frames it has, so it cannot be '
                         'shared out; run it without --distribute')
    share = batch.video_share(count, rank, world)
    logging.info('rank %d in a world of %d: frames %d to %d of %d', rank, world, share[0], share[1] - 1, count)
    folder = _rank_folder(args)
    segment = batch.segment_path(folder, rank, args.save_path)
    summary = batch.run_on_video(task, args.video_path, segment, progress=not args.quiet, share=share)
    merged = batch.gather_video(summary, rank, world, folder, barrier, args.video_path, args.save_path)
    return merged if rank == 0 else None


def _status(summary):
    if summary.failed:
        return 1 if summary.done == 0 else 3
    return 0


def _rank_folder(args):
    """Where the workers of a --distribute run leave their results for rank 0: beside the outputs."""
    if args.photo_path and os.path.isdir(args.photo_path):
        return os.path.join(args.save_path, '.distribute')
    return os.path.join(os.path.dirname(os.path.abspath(args.save_path)), '.distribute')


def main(argv=None):
    return run_cli(_test, argv)


def _test(argv):
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format='%(message)s')
    status = run(args)
    from core.memory import peak_memory_mib
    logging.info('peak memory %.0f MiB', peak_memory_mib())
    return status


if __name__ == '__main__':
    sys.exit(main())
