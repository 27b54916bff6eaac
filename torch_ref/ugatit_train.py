"""photo2cartoon's U-GAT-IT training objective and step, PyTorch reference.

The losses of minivision-ai/photo2cartoon `UgatitSadalinHourglass.train` (LSGAN adversarial and CAM terms,
cycle, identity, CAM classification, MobileFaceNet face-ID), term by term with upstream's names, and one
training step as upstream takes it (D step, then G step, then the rho/w clippers).
`ms_models/ugatit_train.py` is the MindSpore twin of this file.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from core.train_config import LossWeights  # one definition, shared by both twins

from .photo2cartoon import Discriminator, ResnetGenerator

D_TERMS = ('D_ad_loss_GA', 'D_ad_cam_loss_GA', 'D_ad_loss_LA', 'D_ad_cam_loss_LA',
           'D_ad_loss_GB', 'D_ad_cam_loss_GB', 'D_ad_loss_LB', 'D_ad_cam_loss_LB')
G_TERMS = ('G_ad_loss_GA', 'G_ad_cam_loss_GA', 'G_ad_loss_LA', 'G_ad_cam_loss_LA',
           'G_ad_loss_GB', 'G_ad_cam_loss_GB', 'G_ad_loss_LB', 'G_ad_cam_loss_LB',
           'G_recon_loss_A', 'G_recon_loss_B', 'G_identity_loss_A', 'G_identity_loss_B',
           'G_id_loss_A', 'G_id_loss_B', 'G_cam_loss_A', 'G_cam_loss_B')


class UGATIT(nn.Module):
    """The six networks, under upstream's names (also the keys of its training checkpoints)."""

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


class FaceFeatures(nn.Module):
    """MobileFaceNet embeddings of the central face crop (frozen net)."""

    def __init__(self, facenet):
        super().__init__()
        self.model = facenet.eval().requires_grad_(False)

    def infer(self, batch):
        top, bottom, left, right = face_crop_box(*batch.shape[2:])
        crop = F.interpolate(batch[:, :, top:bottom, left:right], size=[112, 112], mode='bilinear',
                             align_corners=True)
        return self.model(crop)


def embedding_distance(a, b):
    """1 - cosine similarity of two batches of embeddings, per sample."""
    return 1 - F.cosine_similarity(a, b)


def mse_to(x, value):
    return F.mse_loss(x, torch.full_like(x, value))


def bce_to(x, value):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, value))


def l1(x, y):
    return F.l1_loss(x, y)


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
    """generator_losses from what the networks computed: images (A2B2A, B2A2B, A2A, B2B), their generators'
    cam logits (A2B, B2A, A2A, B2B), the discriminators' 8 logits on the fakes (GA, GA cam, LA, LA cam on
    B2A, then GB.. on A2B), and with face-ID the embeddings of (real_A, A2B, real_B, B2A), else ()."""
    fake_A2B2A, fake_B2A2B, fake_A2A, fake_B2B = images
    fake_A2B_cam_logit, fake_B2A_cam_logit, fake_A2A_cam_logit, fake_B2B_cam_logit = cam_logits
    adversarial = [mse_to(logit, 1.0) for logit in dis_logits]
    recon_A, recon_B = l1(fake_A2B2A, real_A), l1(fake_B2A2B, real_B)
    identity_A, identity_B = l1(fake_A2A, real_A), l1(fake_B2B, real_B)
    if weights.faceid:
        id_A = embedding_distance(faces[0], faces[1]).mean()
        id_B = embedding_distance(faces[2], faces[3]).mean()
    else:
        id_A = id_B = torch.zeros((), dtype=real_A.dtype)
    cam_A = bce_to(fake_B2A_cam_logit, 1.0) + bce_to(fake_A2A_cam_logit, 0.0)
    cam_B = bce_to(fake_A2B_cam_logit, 1.0) + bce_to(fake_B2B_cam_logit, 0.0)

    loss_A = weights.adv * (adversarial[0] + adversarial[1] + adversarial[2] + adversarial[3]) \
        + weights.cycle * recon_A + weights.identity * identity_A + weights.cam * cam_A + weights.faceid * id_A
    loss_B = weights.adv * (adversarial[4] + adversarial[5] + adversarial[6] + adversarial[7]) \
        + weights.cycle * recon_B + weights.identity * identity_B + weights.cam * cam_B + weights.faceid * id_B
    return loss_A + loss_B, tuple(adversarial + [recon_A, recon_B, identity_A, identity_B, id_A, id_B, cam_A, cam_B])


def clip_rho_and_w(rho_params, w_params, rho_max=1.0, w_max=1.0):
    """Upstream's RhoClipper and WClipper, applied to the generators' parameters after each G step."""
    with torch.no_grad():
        for param in rho_params:
            param.clamp_(0, rho_max)
        for param in w_params:
            param.clamp_(0, w_max)


def learning_rate(step, lr, iteration, decay=True):
    """Upstream's schedule at 1-based `step`: constant, then linearly down to 0 over the second half (never
    below 0, which upstream's reaches on the last step of an odd --iteration)."""
    half = max(iteration // 2, 1)
    return max(0.0, lr - lr / half * (step - half)) if decay and step > half else lr


class Trainer:
    """One upstream training step at a time: D step, G step, clippers. Adam(0.5, 0.999), weight decay 1e-4."""

    def __init__(self, nets, facenet=None, weights=None, lr=1e-4, iteration=1000000, decay=True):
        self.nets, self.facenet, self.weights = nets, facenet, weights or LossWeights()
        self.lr, self.iteration, self.decay = lr, iteration, decay
        self.g_params = [p for g in nets.generators() for p in g.parameters()]
        self.d_params = [p for d in nets.discriminators() for p in d.parameters()]
        generator_params = [(n, p) for g in nets.generators() for n, p in g.named_parameters()]
        self.rho_params = [p for n, p in generator_params if n.endswith('.rho')]
        self.w_params = [p for n, p in generator_params if n.endswith(('.w_gamma', '.w_beta'))]
        self.G_optim = torch.optim.Adam(self.g_params, lr=lr, betas=(0.5, 0.999), weight_decay=0.0001)
        self.D_optim = torch.optim.Adam(self.d_params, lr=lr, betas=(0.5, 0.999), weight_decay=0.0001)

    def d_gradients(self, real_A, real_B):
        """(Discriminator_loss, D terms, gradients of the D parameters); the fakes are detached."""
        self.D_optim.zero_grad()
        with torch.no_grad():
            fake_A2B, fake_B2A = self.nets.genA2B(real_A)[0], self.nets.genB2A(real_B)[0]
        loss, terms = discriminator_losses(self.nets, real_A, real_B, fake_A2B, fake_B2A, self.weights)
        loss.backward()
        return loss, terms, tuple(p.grad for p in self.d_params)

    def g_gradients(self, real_A, real_B):
        """(Generator_loss, G terms, gradients of the G parameters; None for one the loss does not use)."""
        self.G_optim.zero_grad()
        loss, terms = generator_losses(self.nets, self.facenet, real_A, real_B, self.weights)
        loss.backward()
        return loss, terms, tuple(p.grad for p in self.g_params)

    def apply_d(self, grads):
        for param, grad in zip(self.d_params, grads):
            param.grad = grad
        self.D_optim.step()

    def apply_g(self, grads):
        for param, grad in zip(self.g_params, grads):
            param.grad = grad
        self.G_optim.step()
        clip_rho_and_w(self.rho_params, self.w_params)

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
            optim.param_groups[0]['lr'] = rate
        return rate

    def step(self, step, real_A, real_B):
        """Train on one batch (`step` is 1-based); returns (Discriminator_loss, D terms, Generator_loss,
        G terms) as floats."""
        self.set_learning_rate(step)
        self.nets.train()
        d_loss, d_terms = self.d_step(real_A, real_B)
        g_loss, g_terms = self.g_step(real_A, real_B)
        return d_loss.item(), [t.item() for t in d_terms], g_loss.item(), [t.item() for t in g_terms]
