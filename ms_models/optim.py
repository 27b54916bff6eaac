"""torch.optim.Adam, step for step, in MindSpore.

MindSpore's nn.Adam differs from PyTorch's in two ways that matter to a faithful port: it adds eps to
sqrt(v) BEFORE the bias correction (TensorFlow's placement: at step 1 the effective eps is 1e-8 /
sqrt(1 - beta2) = 3e-7, which dominates the update of any parameter whose gradient is below ~1e-6), and
with a flat parameter list it skips weight decay for every parameter whose name contains 'gamma' or 'beta'
(photo2cartoon's LIN gamma/beta and Soft-AdaLIN's w_gamma, c_gamma, s_beta, ...). This optimizer does
what torch.optim.Adam(params, lr, betas, eps, weight_decay) does, to every parameter, with MindSpore's
fused Adam kernel (PyNative runs one kernel at a time, so ten small ops per parameter would cost seconds):

    g = grad + weight_decay * p
    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""
import mindspore as ms
import numpy as np
from mindspore import Parameter, Tensor, nn, ops


class TorchAdam(nn.Cell):
    """`optimizer(grads)` updates `params` in place; `learning_rate` is a Parameter the caller may set."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, prefix='optimizer'):
        super().__init__(auto_prefix=False)  # the parameters keep their own names
        self.params = ms.ParameterTuple(params)
        self.beta1, self.beta2 = betas
        self.beta1_t, self.beta2_t = Tensor(np.float32(betas[0])), Tensor(np.float32(betas[1]))
        self.adam = ops.Adam()
        self.eps = eps
        self.weight_decay = Tensor(np.float32(weight_decay))
        self.map = ops.HyperMap()
        self.learning_rate = Parameter(Tensor(np.float32(lr)), name=f'{prefix}.learning_rate', requires_grad=False)
        self.step = Parameter(Tensor(np.float32(0)), name=f'{prefix}.step', requires_grad=False)
        self.exp_avg = self.params.clone(prefix=f'{prefix}.exp_avg', init='zeros')
        self.exp_avg_sq = self.params.clone(prefix=f'{prefix}.exp_avg_sq', init='zeros')

    def construct(self, grads):
        step = self.step + 1
        ops.assign(self.step, step)
        beta1_power, beta2_power = ops.pow(self.beta1, step), ops.pow(self.beta2, step)
        # The fused kernel computes p -= lr sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(v) + eps'): torch's
        # update exactly when eps' = eps sqrt(1 - beta2^t). One kernel per parameter instead of ten; its one
        # deviation: 1 - beta2 is formed from float32 beta2, 1.3e-5 relative off torch's (the v increments).
        eps = self.eps * ops.sqrt(1 - beta2_power)
        # a map over the parameters, not a loop: compiled, a loop unrolls into one nested call per parameter
        # (past the compiler's depth limit for the two generators' 812)
        self.map(ops.partial(_update, self.adam, beta1_power, beta2_power, self.learning_rate, self.beta1_t,
                             self.beta2_t, eps, self.weight_decay),
                 self.params, self.exp_avg, self.exp_avg_sq, grads)
        return step

    def state_parameters(self):
        """Everything a resumed run needs: step, learning rate, both moments."""
        return [self.step, self.learning_rate, *self.exp_avg, *self.exp_avg_sq]


_update = ops.MultitypeFuncGraph('torch_adam_update')


@_update.register('Function', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor', 'Tensor',
                  'Tensor', 'Tensor')
def _update_one(adam, beta1_power, beta2_power, lr, beta1, beta2, eps, weight_decay, param, exp_avg, exp_avg_sq, grad):
    return adam(param, exp_avg, exp_avg_sq, beta1_power, beta2_power, lr, beta1, beta2, eps, grad + weight_decay * param)
