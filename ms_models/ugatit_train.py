"""photo2cartoon's U-GAT-IT training objective and step, in MindSpore.

The twin of `torch_ref/ugatit_train.py`: the same losses term by term (upstream's names), the same step
(D step, G step, rho/w clippers), with torch's Adam (ms_models.optim) and upstream's learning-rate schedule.
Compiled (train.py's --mode graph), the step runs as one graph per network (StepGraphs): the G step's
gradients are chained from network to network by compiled backward graphs, so no graph holds
more than one network's activations; PyNative (--mode pynative) takes them by autograd. The loss terms
come back as tuples in D_TERMS / G_TERMS order.
"""
import mindspore as ms
from mindspore import nn, ops

from core.train_config import LossWeights  # one definition, shared by both twins

from .layers import use_lean_conv_backward
from .optim import TorchAdam
from .photo2cartoon import ConvBlock, Discriminator, ResnetGenerator

D_TERMS = ('D_ad_loss_GA', 'D_ad_cam_loss_GA', 'D_ad_loss_LA', 'D_ad_cam_loss_LA',
           'D_ad_loss_GB', 'D_ad_cam_loss_GB', 'D_ad_loss_LB', 'D_ad_cam_loss_LB')
G_TERMS = ('G_ad_loss_GA', 'G_ad_cam_loss_GA', 'G_ad_loss_LA', 'G_ad_cam_loss_LA',
           'G_ad_loss_GB', 'G_ad_cam_loss_GB', 'G_ad_loss_LB', 'G_ad_cam_loss_LB',
           'G_recon_loss_A', 'G_recon_loss_B', 'G_identity_loss_A', 'G_identity_loss_B',
           'G_id_loss_A', 'G_id_loss_B', 'G_cam_loss_A', 'G_cam_loss_B')


class UGATIT(nn.Cell):
    """The six networks, under upstream's names; their parameters are named '<network>.<upstream key>'."""

    def __init__(self, ch=32, img_size=256, light=True, n_dis=7):
        super().__init__()
        self.generator_config = {'ngf': ch, 'img_size': img_size, 'light': light}
        self.genA2B = ResnetGenerator(**self.generator_config)
        self.genB2A = ResnetGenerator(**self.generator_config)
        # photo2cartoon's discriminators have 7 (global) and 5 (local) layers, whatever its --n_dis says;
        # n_dis lets small images use shallower ones (global n_dis, local n_dis - 2, as U-GAT-IT does).
        self.disGA = Discriminator(input_nc=3, ndf=ch, n_layers=n_dis)
        self.disGB = Discriminator(input_nc=3, ndf=ch, n_layers=n_dis)
        self.disLA = Discriminator(input_nc=3, ndf=ch, n_layers=n_dis - 2)
        self.disLB = Discriminator(input_nc=3, ndf=ch, n_layers=n_dis - 2)

    def generators(self):
        return [self.genA2B, self.genB2A]

    def discriminators(self):
        return [self.disGA, self.disGB, self.disLA, self.disLB]


def face_crop_box(height, width):
    """Upstream FaceFeatures.infer's crop of an aligned face: (top, bottom, left, right)."""
    top = int(height / 2.1 * (0.8 - 0.33))
    bottom = int(height - (height / 2.1 * 0.3))
    size = bottom - top
    left = int(width / 2 - size / 2)
    return top, bottom, left, left + size


class FaceFeatures(nn.Cell):
    """MobileFaceNet embeddings of the central face crop (frozen net)."""

    def __init__(self, facenet):
        super().__init__()
        self.model = facenet
        self.model.set_train(False)
        for param in self.model.get_parameters():
            param.requires_grad = False

    def infer(self, batch):
        top, bottom, left, right = face_crop_box(batch.shape[2], batch.shape[3])
        crop = ops.interpolate(batch[:, :, top:bottom, left:right], size=(112, 112), mode='bilinear',
                               align_corners=True)
        return self.model(crop)


def embedding_distance(a, b):
    """1 - cosine similarity of two batches of embeddings, per sample."""
    cosine = (a * b).sum(1) / ops.maximum(ops.norm(a, dim=1) * ops.norm(b, dim=1), 1e-8)
    return 1 - cosine


def mse_to(x, value):
    return ((x - value) ** 2).mean()


def bce_to(x, value):
    """BCEWithLogitsLoss against a constant target, in torch's stable form."""
    return (ops.relu(x) - x * value + ops.log1p(ops.exp(-ops.abs(x)))).mean()


def l1(x, y):
    return ops.abs(x - y).mean()


def discriminator_losses(nets, real_A, real_B, fake_A2B, fake_B2A, weights):
    """(Discriminator_loss, terms in D_TERMS order). The fakes come from the generators, detached."""
    terms = []
    for dis_G, dis_L, real, fake in [(nets.disGA, nets.disLA, real_A, fake_B2A), (nets.disGB, nets.disLB, real_B, fake_A2B)]:
        real_G_logit, real_G_cam_logit, _ = dis_G(real)
        real_L_logit, real_L_cam_logit, _ = dis_L(real)
        fake_G_logit, fake_G_cam_logit, _ = dis_G(fake)
        fake_L_logit, fake_L_cam_logit, _ = dis_L(fake)
        terms += [mse_to(real_G_logit, 1.0) + mse_to(fake_G_logit, 0.0),
                  mse_to(real_G_cam_logit, 1.0) + mse_to(fake_G_cam_logit, 0.0),
                  mse_to(real_L_logit, 1.0) + mse_to(fake_L_logit, 0.0),
                  mse_to(real_L_cam_logit, 1.0) + mse_to(fake_L_cam_logit, 0.0)]
    return discriminator_loss(terms, weights), tuple(terms)


def discriminator_loss(terms, weights):
    """Discriminator_loss from its terms in D_TERMS order."""
    loss_A = weights.adv * (terms[0] + terms[1] + terms[2] + terms[3])
    loss_B = weights.adv * (terms[4] + terms[5] + terms[6] + terms[7])
    return loss_A + loss_B


def generator_losses(nets, facenet, real_A, real_B, weights):
    """(Generator_loss, terms in G_TERMS order). The face-ID term is averaged over the batch: upstream's
    per-sample vector only backpropagates at batch size 1, where the two agree."""
    fake_A2B, fake_A2B_cam_logit, _ = nets.genA2B(real_A)
    fake_B2A, fake_B2A_cam_logit, _ = nets.genB2A(real_B)

    fake_A2B2A, _, _ = nets.genB2A(fake_A2B)
    fake_B2A2B, _, _ = nets.genA2B(fake_B2A)

    fake_A2A, fake_A2A_cam_logit, _ = nets.genB2A(real_A)
    fake_B2B, fake_B2B_cam_logit, _ = nets.genA2B(real_B)

    dis_logits = []
    for dis_G, dis_L, fake in [(nets.disGA, nets.disLA, fake_B2A), (nets.disGB, nets.disLB, fake_A2B)]:
        dis_logits += [*dis_G(fake)[:2], *dis_L(fake)[:2]]
    faces = tuple(facenet.infer(x) for x in (real_A, fake_A2B, real_B, fake_B2A)) if weights.faceid else ()
    return generator_loss_terms((fake_A2B2A, fake_B2A2B, fake_A2A, fake_B2B),
                                (fake_A2B_cam_logit, fake_B2A_cam_logit, fake_A2A_cam_logit, fake_B2B_cam_logit),
                                tuple(dis_logits), faces, real_A, real_B, weights)


def generator_loss_terms(images, cam_logits, dis_logits, faces, real_A, real_B, weights):
    """generator_losses from what the networks computed, as plain tuples (a namedtuple's gradients come back
    zero under ms.jit, MindSpore 2.10): images (A2B2A, B2A2B, A2A, B2B), their generators' cam logits
    (A2B, B2A, A2A, B2B), the discriminators' 8 logits on the fakes (GA, GA cam, LA, LA cam on B2A, then GB..
    on A2B), and with face-ID the embeddings of (real_A, A2B, real_B, B2A), else ()."""
    fake_A2B2A, fake_B2A2B, fake_A2A, fake_B2B = images
    fake_A2B_cam_logit, fake_B2A_cam_logit, fake_A2A_cam_logit, fake_B2B_cam_logit = cam_logits
    adversarial = [mse_to(logit, 1.0) for logit in dis_logits]
    recon_A, recon_B = l1(fake_A2B2A, real_A), l1(fake_B2A2B, real_B)
    identity_A, identity_B = l1(fake_A2A, real_A), l1(fake_B2B, real_B)
    if weights.faceid:
        id_A = embedding_distance(faces[0], faces[1]).mean()
        id_B = embedding_distance(faces[2], faces[3]).mean()
    else:
        id_A = id_B = ops.zeros((), real_A.dtype)
    cam_A = bce_to(fake_B2A_cam_logit, 1.0) + bce_to(fake_A2A_cam_logit, 0.0)
    cam_B = bce_to(fake_A2B_cam_logit, 1.0) + bce_to(fake_B2B_cam_logit, 0.0)

    loss_A = weights.adv * (adversarial[0] + adversarial[1] + adversarial[2] + adversarial[3]) \
        + weights.cycle * recon_A + weights.identity * identity_A + weights.cam * cam_A + weights.faceid * id_A
    loss_B = weights.adv * (adversarial[4] + adversarial[5] + adversarial[6] + adversarial[7]) \
        + weights.cycle * recon_B + weights.identity * identity_B + weights.cam * cam_B + weights.faceid * id_B
    return loss_A + loss_B, tuple(adversarial + [recon_A, recon_B, identity_A, identity_B, id_A, id_B, cam_A, cam_B])


def clip_rho_and_w(rho_params, w_params, rho_max=1.0, w_max=1.0):
    """Upstream's RhoClipper and WClipper, applied to the generators' parameters after each G step."""
    for param in rho_params:
        ops.assign(param, ops.clamp(param, 0.0, rho_max))
    for param in w_params:
        ops.assign(param, ops.clamp(param, 0.0, w_max))


def idle_parameters(generator):
    """The parameters upstream's forward never reaches: ConvBlock4, the projection shortcut photo2cartoon
    builds even where dim_in == dim_out. PyTorch gives them no gradient, so its Adam leaves them untouched
    (no weight decay either); they stay out of our optimizer for the same result."""
    return [param for _, cell in generator.cells_and_names()
            if isinstance(cell, ConvBlock) and cell.ConvBlock1[0].num_features == cell.dim_out
            for param in cell.ConvBlock4.trainable_params()]


def learning_rate(step, lr, iteration, decay=True):
    """Upstream's schedule at 1-based `step`: constant, then linearly down to 0 over the second half (never
    below 0, which upstream's reaches on the last step of an odd --iteration)."""
    half = max(iteration // 2, 1)
    return max(0.0, lr - lr / half * (step - half)) if decay and step > half else lr


def _outputs(net, count):
    def first_outputs(x):
        return net(x)[:count]
    return first_outputs


def one_at_a_time(graph):
    """`graph`, which on CPU returns only once it has finished. Launched asynchronously, the next graph's
    kernels ran while the last one's still did and the host thread spun in the runtime's queue wait, all on
    the same cores (ch 32, 256 px, 2 cores: 43-47 s/step; 29 s waiting after each graph). Reading the first
    output back waits on a condition variable; `Tensor.data_sync` spins (53-60 s/step). A GPU or NPU queues
    the graphs on one stream, where waiting would only stall the host."""
    def run(*args):
        outputs = graph(*args)
        if ms.get_context('device_target') == 'CPU':
            first = outputs
            while isinstance(first, tuple):
                first = first[0]
            first.asnumpy()
        return outputs
    return run


class CompiledGraph(nn.Cell):
    """`fn` compiled into one graph, as the construct of a Cell that holds the networks whose parameters it
    uses: MindSpore's compile cache binds a graph it loads back to its Cell's parameters. (A compiled
    function's graph, loaded back, computed with parameters of its own: zeros and NaN, MindSpore 2.10.)"""

    def __init__(self, fn, *networks):
        super().__init__(auto_prefix=False)  # the networks' parameter names stay theirs
        self.fn = fn
        for i, network in enumerate(networks):
            setattr(self, f'network_{i}', network)

    @ms.jit
    def construct(self, *args):
        return self.fn(*args)


def compiled(fn, *networks):
    """fn as one compiled graph (CompiledGraph over `networks`), waited for on CPU (one_at_a_time)."""
    return one_at_a_time(CompiledGraph(fn, *networks))


def compiled_update(optimizer):
    """optimizer(grads) as one compiled graph; the gradients passed as a mutable tuple (a plain tuple's
    tensors are taken for constants: one compilation per call)."""
    graph = compiled(optimizer)

    def update(grads):
        return graph(ms.mutable(tuple(grads)))
    return update


def compiled_vjp(forward, network):
    """A compiled (x, cotangent) -> dx: the vector-Jacobian product of `forward` (x -> one tensor, computed
    by `network`) at x, its activations recomputed."""
    def weighted_sum(x, cotangent):
        return (forward(x) * cotangent).sum()
    return compiled(ms.grad(weighted_sum, grad_position=0), network)


class StepGraphs:
    """The D and G steps' losses and gradients as one compiled graph per network (and one for the G loss).

    Whole-step graphs hold every network's activations at once and need the compiler's memory for all of
    them (OOM at ch 32, 256 px on 24 GB, README); PyNative gradients through per-network ms.jit cells came
    back zero from the second call on (MindSpore 2.10). Here nothing crosses a graph boundary by autograd.
    A discriminator's loss terms are MSEs of its own logits, so each discriminator call is one graph giving
    its terms, its parameters' gradients and its input's gradient at once (`adversarial`), in training mode
    like the call it stands for: its spectral norms' power iteration and the gradient through them come
    from the same forward, as in autograd. In the G step the cycle and identity calls, whose loss terms
    involve their own outputs only, are each one forward+loss+backward call of the generators' backward
    graph; the G loss graph gives the translations' CAM logits' and the face embeddings' gradients, the
    face net's VJP graph carries the latter back, and the translations go back through the backward graph
    last, their outputs' gradients complete (parameters' gradients summed per generator).
    """

    def __init__(self, nets, facenet, weights, g_params):
        self.weights = weights
        self.gen = SharedGenerator(nets, g_params)
        self.dis = nets.discriminators()  # GA, GB, LA, LB: the order of Trainer.d_params
        self.adversarial = {id(d): compiled(ms.value_and_grad(
            _adversarial(d, weights.adv), 0, ms.ParameterTuple(d.trainable_params()), has_aux=True), d) for d in self.dis}
        self.real_label, self.fake_label = ms.Tensor(1.0, ms.float32), ms.Tensor(0.0, ms.float32)  # MSE targets
        if weights.faceid:
            self.face = compiled(facenet.infer, facenet)
            self.face_vjp = compiled_vjp(facenet.infer, facenet)
        # gradients with respect to the translations' cam logits and the face embeddings: the other outputs'
        # gradients come from the calls that made them (SharedGenerator.backward, adversarial)
        wrt = (6, 7) + (tuple(range(18, 22)) if weights.faceid else ())
        self.g_loss = compiled(ms.value_and_grad(self._g_loss, wrt, has_aux=True))
        self.cycle_weight, self.identity_weight, self.cam_weight = (
            ms.Tensor(w, ms.float32) for w in (weights.cycle, weights.identity, weights.cam))
        self.fakes = None  # (real_A, real_B, the generators' outputs on them) until the generators change

    def _g_loss(self, real_A, real_B, *outputs):
        return generator_loss_terms(outputs[0:4], outputs[4:8], outputs[8:16], outputs[16:], real_A, real_B,
                                    self.weights)

    def generators_changed(self):
        self.fakes = None
        self.gen.forget_weights()

    def _translations(self, real_A, real_B):
        # the D step's, reused by the G step: the generators do not change in between
        if self.fakes is None or self.fakes[0] is not real_A or self.fakes[1] is not real_B:
            self.fakes = real_A, real_B, self.gen('A2B', real_A), self.gen('B2A', real_B)
        return self.fakes[2:]

    def d_gradients(self, real_A, real_B):
        (fake_A2B, _, _), (fake_B2A, _, _) = self._translations(real_A, real_B)
        GA, GB, LA, LB = self.dis
        terms, grads = [], {}
        # upstream's order of calls, which sets each discriminator's power iterations: real, then fake
        for dis_G, dis_L, real, fake in [(GA, LA, real_A, fake_B2A), (GB, LB, real_B, fake_A2B)]:
            for dis in (dis_G, dis_L):
                (_, real_mse, real_cam_mse, _, _), (_, real_grads) = self.adversarial[id(dis)](real, self.real_label)
                (_, fake_mse, fake_cam_mse, _, _), (_, fake_grads) = self.adversarial[id(dis)](fake, self.fake_label)
                terms += [real_mse + fake_mse, real_cam_mse + fake_cam_mse]
                grads[id(dis)] = tuple(a + b for a, b in zip(real_grads, fake_grads))
        grads = tuple(g for dis in self.dis for g in grads[id(dis)])
        return discriminator_loss(terms, self.weights), tuple(terms), grads

    def g_gradients(self, real_A, real_B):
        (fake_A2B, A2B_cam, _), (fake_B2A, B2A_cam, _) = self._translations(real_A, real_B)
        # the cycle and identity calls' loss terms involve their own outputs only, so each call is one
        # forward, loss and backward; B2A first, whose weights the D step's translations left loaded
        d_A2B, fake_A2B2A, _ = self.gen.backward('B2A', fake_A2B, target=real_A, l1_weight=self.cycle_weight)
        _, fake_A2A, A2A_cam = self.gen.backward('B2A', real_A, target=real_A, l1_weight=self.identity_weight,
                                                 bce_weight=self.cam_weight)
        d_B2A, fake_B2A2B, _ = self.gen.backward('A2B', fake_B2A, target=real_B, l1_weight=self.cycle_weight)
        _, fake_B2B, B2B_cam = self.gen.backward('A2B', real_B, target=real_B, l1_weight=self.identity_weight,
                                                 bce_weight=self.cam_weight)
        GA, GB, LA, LB = self.dis
        dis_logits, d_fakes = [], []
        for dis, fake in [(GA, fake_B2A), (LA, fake_B2A), (GB, fake_A2B), (LB, fake_A2B)]:
            (_, _, _, logit, cam_logit), (d_fake, _) = self.adversarial[id(dis)](fake, self.real_label)
            dis_logits += [logit, cam_logit]
            d_fakes.append(d_fake)
        faces = tuple(self.face(x) for x in (real_A, fake_A2B, real_B, fake_B2A)) if self.weights.faceid else ()
        (loss, terms), d = self.g_loss(real_A, real_B, fake_A2B2A, fake_B2A2B, fake_A2A, fake_B2B,
                                       A2B_cam, B2A_cam, A2A_cam, B2B_cam, *dis_logits, *faces)
        d_cams, d_faces = d[0:2], d[2:]
        d_A2B = d_A2B + d_fakes[2] + d_fakes[3]
        d_B2A = d_B2A + d_fakes[0] + d_fakes[1]
        if self.weights.faceid:
            d_A2B = d_A2B + self.face_vjp(fake_A2B, d_faces[1])
            d_B2A = d_B2A + self.face_vjp(fake_B2A, d_faces[3])
        # the translations, their outputs' gradients now complete
        self.gen.backward('A2B', real_A, d_image=d_A2B, d_cam=d_cams[0])
        self.gen.backward('B2A', real_B, d_image=d_B2A, d_cam=d_cams[1])
        return loss, terms, self.gen.gradients()


def _adversarial(dis, weight):
    """x, target -> (weight * (MSE(logit, target) + MSE(cam_logit, target)), the two MSEs, logit, cam_logit)
    of discriminator `dis` on x: its part of the D loss (target 1 on reals, 0 on fakes) or of the G loss (1)."""
    def loss(x, target):
        logit, cam_logit, _ = dis(x)
        logit_mse, cam_logit_mse = mse_to(logit, target), mse_to(cam_logit, target)
        return weight * (logit_mse + cam_logit_mse), logit_mse, cam_logit_mse, logit, cam_logit
    return loss


class SharedGenerator:
    """genA2B and genB2A through one compiled forward graph and one compiled backward graph.

    A compiled generator VJP holds about 5 GB for the life of the process at ch 32, 256 px (MindSpore 2.10,
    CPU; README), so both generators run on one working copy (`work`, same architecture) whose weights are
    copied in from the generator being run, by one compiled copy, whenever the other one ran last. The
    gradients of the trained parameters are summed per generator over its calls (`gradients()`, then zero).
    The copy's stride-1 convolutions use layers.LeanBackwardConv2D: MindSpore's own convolution backward
    keeps ~157 MiB of scratch per 32-channel convolution at 256 px, most of that 5 GB.
    """

    def __init__(self, nets, g_params):
        source = nets.genA2B
        self.work = ResnetGenerator(**nets.generator_config)
        self.work.update_parameters_name('shared_generator.')
        use_lean_conv_backward(self.work)
        self.sources = {'A2B': nets.genA2B.trainable_params(), 'B2A': nets.genB2A.trainable_params()}
        work_params = self.work.trainable_params()
        trained = {id(p) for p in g_params}
        positions = [i for i, p in enumerate(source.trainable_params()) if id(p) in trained]
        self.trained = {name: [params[i] for i in positions] for name, params in self.sources.items()}
        self.copy_in = compiled(_assigner(work_params), self.work)
        self.forward = compiled(_outputs(self.work, 3), self.work)
        self.grad = compiled(_accumulating(ms.value_and_grad(
            _generator_objective(self.work), 0, ms.ParameterTuple([work_params[i] for i in positions]),
            has_aux=True)), self.work)
        self.zero = ms.Tensor(0.0, ms.float32)
        # the sums' start, made once: 406 zeros_like per generator and step cost 0.1 s in PyNative
        self.zero_sums = tuple(ops.zeros(p.shape, p.dtype) for p in self.trained['A2B'])
        self.loaded = None  # which generator's weights `work` holds
        self.sums = {}

    def forget_weights(self):
        """The generators changed: copy the weights in again at the next call."""
        self.loaded = None

    def load(self, name):
        if self.loaded != name:
            # as Tensors: Parameter arguments made MindSpore compile the copy again for the other generator
            self.copy_in(*(param.value() for param in self.sources[name]))
            self.loaded = name

    def __call__(self, name, x):
        """(image, cam_logit, heatmap) of generator `name` ('A2B' or 'B2A') on x."""
        self.load(name)
        return self.forward(x)

    def backward(self, name, x, d_image=None, d_cam=None, target=None, l1_weight=None, bce_weight=None):
        """(gradient with respect to x, image, cam_logit) of generator `name` on x for the objective of
        `_generator_objective` (cotangents and weights left out are zero); the parameters' gradients are
        added to `name`'s sum."""
        self.load(name)
        d_image = ops.zeros_like(x) if d_image is None else d_image
        d_cam = ops.zeros((x.shape[0], 2), x.dtype) if d_cam is None else d_cam  # (gap, gmp) logits
        target = x if target is None else target
        l1_weight = self.zero if l1_weight is None else l1_weight
        bce_weight = self.zero if bce_weight is None else bce_weight
        dx, image, cam_logit, self.sums[name] = self.grad(x, d_image, d_cam, target, l1_weight, bce_weight,
                                                          *self._sums(name))
        return dx, image, cam_logit

    def _sums(self, name):
        return self.sums.get(name) or self.zero_sums

    def gradients(self):
        """The summed gradients of genA2B's then genB2A's trained parameters, in g_params order; restarts."""
        grads = self._sums('A2B') + self._sums('B2A')
        self.sums = {}
        return grads


def _generator_objective(generator):
    """x, d_image, d_cam, target, l1_weight, bce_weight -> (objective, image, cam_logit) of `generator` on x.
    The objective is the sum of the outputs times the G loss's gradients with respect to them (d_image,
    d_cam) plus l1_weight * L1(image, target) + bce_weight * BCE(cam_logit, 0): a translation's part of the
    G loss, or (cotangents zero) a cycle or identity call's whole part of it."""
    def objective(x, d_image, d_cam, target, l1_weight, bce_weight):
        image, cam_logit, _ = generator(x)
        total = (image * d_image).sum() + (cam_logit * d_cam).sum() \
            + l1_weight * l1(image, target) + bce_weight * bce_to(cam_logit, 0.0)
        return total, image, cam_logit
    return objective


def _accumulating(grad):
    """(x, 5 more arguments, *sums) -> (dx, image, cam_logit, sums + the parameters' gradients) from `grad`,
    a value_and_grad of _generator_objective. The arguments are flat: gradients through tuple arguments come
    back empty (MindSpore 2.10)."""
    def run(x, *rest):
        (_, image, cam_logit), (dx, grads) = grad(x, *rest[:5])
        return dx, image, cam_logit, tuple(total + g for total, g in zip(rest[5:], grads))
    return run


def _assigner(params):
    def copy_in(*values):
        for param, value in zip(params, values):
            ops.assign(param, value)
        return values[0]
    return copy_in


class Trainer:
    """One upstream training step at a time: D step, G step, clippers. Adam(0.5, 0.999), weight decay 1e-4.

    `grad_reducer(params)` makes the function that averages gradients across data-parallel workers.
    """

    def __init__(self, nets, facenet=None, weights=None, lr=1e-4, iteration=1000000, decay=True,
                 jit=True, grad_reducer=None):
        self.nets, self.facenet, self.weights = nets, facenet, weights or LossWeights()
        self.lr, self.iteration, self.decay = lr, iteration, decay
        idle = {id(p) for g in nets.generators() for p in idle_parameters(g)}
        self.g_params = [p for g in nets.generators() for p in g.trainable_params() if id(p) not in idle]
        self.d_params = [p for d in nets.discriminators() for p in d.trainable_params()]
        self.rho_params = [p for p in self.g_params if p.name.endswith('.rho')]
        self.w_params = [p for p in self.g_params if p.name.endswith(('.w_gamma', '.w_beta'))]
        self.G_optim = TorchAdam(self.g_params, lr, (0.5, 0.999), weight_decay=0.0001, prefix='G_optim')
        self.D_optim = TorchAdam(self.d_params, lr, (0.5, 0.999), weight_decay=0.0001, prefix='D_optim')
        self.g_reducer = grad_reducer(self.g_params) if grad_reducer else None
        self.d_reducer = grad_reducer(self.d_params) if grad_reducer else None
        if jit:
            self.graphs = StepGraphs(nets, facenet, self.weights, self.g_params)
            # compiled too: in PyNative the G update's 2,400 kernels were launched one by one (0.5-1.5 s per
            # step at ch 32; compiled 0.04 s)
            self.update_g, self.update_d = compiled_update(self.G_optim), compiled_update(self.D_optim)
        else:
            self.graphs = None
            self.update_g, self.update_d = one_at_a_time(self.G_optim), one_at_a_time(self.D_optim)
            self._d_grad = ms.value_and_grad(self._d_loss, None, self.d_params, has_aux=True)
            self._g_grad = ms.value_and_grad(self._g_loss, None, self.g_params, has_aux=True)

    def _d_loss(self, real_A, real_B):
        fake_A2B = ops.stop_gradient(self.nets.genA2B(real_A)[0])
        fake_B2A = ops.stop_gradient(self.nets.genB2A(real_B)[0])
        return discriminator_losses(self.nets, real_A, real_B, fake_A2B, fake_B2A, self.weights)

    def _g_loss(self, real_A, real_B):
        return generator_losses(self.nets, self.facenet, real_A, real_B, self.weights)

    def d_gradients(self, real_A, real_B):
        """(Discriminator_loss, D terms, gradients of the D parameters); the fakes are detached."""
        if self.graphs:
            return self.graphs.d_gradients(real_A, real_B)
        (loss, terms), grads = self._d_grad(real_A, real_B)
        return loss, terms, grads

    def g_gradients(self, real_A, real_B):
        """(Generator_loss, G terms, gradients of the G parameters)."""
        if self.graphs:
            return self.graphs.g_gradients(real_A, real_B)
        (loss, terms), grads = self._g_grad(real_A, real_B)
        return loss, terms, grads

    def generate(self, name, x):
        """Generator `name` ('A2B' or 'B2A') on x, without gradients: (image, cam_logit, heatmap). Compiled,
        through the step's own forward graph (no graph of its own)."""
        if self.graphs:
            return self.graphs.gen(name, x)
        return getattr(self.nets, 'gen' + name)(x)

    def apply_d(self, grads):
        self.update_d(self.d_reducer(grads) if self.d_reducer else grads)

    def apply_g(self, grads):
        self.update_g(self.g_reducer(grads) if self.g_reducer else grads)
        clip_rho_and_w(self.rho_params, self.w_params)
        if self.graphs:
            self.graphs.generators_changed()

    def d_step(self, real_A, real_B):
        loss, terms, grads = self.d_gradients(real_A, real_B)
        self.apply_d(grads)
        return loss, terms

    def g_step(self, real_A, real_B):
        loss, terms, grads = self.g_gradients(real_A, real_B)
        self.apply_g(grads)
        return loss, terms

    def set_learning_rate(self, step):
        rate = learning_rate(step, self.lr, self.iteration, self.decay)
        for optim in (self.G_optim, self.D_optim):
            # in place: a compiled update kept reading the tensor that set_data replaced
            ops.assign(optim.learning_rate, ms.Tensor(rate, ms.float32))
        return rate

    def step(self, step, real_A, real_B):
        """Train on one batch (`step` is 1-based); returns (Discriminator_loss, D terms, Generator_loss,
        G terms) as floats."""
        self.set_learning_rate(step)
        self.nets.set_train(True)
        d_loss, d_terms = self.d_step(real_A, real_B)
        g_loss, g_terms = self.g_step(real_A, real_B)
        # one read-back per step (on a GPU or NPU, each would wait for the device)
        values = ops.stack((d_loss, *d_terms, g_loss, *g_terms)).asnumpy().tolist()
        d = len(d_terms) + 1
        return values[0], values[1:d], values[d], values[d + 1:]
