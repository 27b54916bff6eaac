"""bench.py --kernels: oneDNN's verbose log summed per primitive, beside the run's whole time."""
import bench

# as MindSpore's oneDNN 3.10 and PyTorch's print them (the second without the v1 header), and lines to skip
LOG = [
    'onednn_verbose,v1,info,cpu,isa:Intel AVX2\n',
    'onednn_verbose,v1,primitive,exec,cpu,convolution,x64:gemm:jit,forward_training,src:f32::blocked:abcd::f0 '
    'wei:f32::blocked:abcd::f0 bia:undef::undef::: dst:f32::blocked:abcd::f0,,alg:convolution_direct,'
    'mb1_ic32oc16_ih258oh256kh3sh1dh0ph0_iw258ow256kw3sw1dw0pw0,9.5\n',
    'onednn_verbose,v1,primitive,exec,cpu,convolution,x64:gemm:jit,backward_data,src:f32::blocked:abcd::f0,,'
    'alg:convolution_direct,mb1_ic32oc16_ih258oh256kh3sh1dh0ph0_iw258ow256kw3sw1dw0pw0,16.25\n',
    'onednn_verbose,exec,cpu,convolution,jit:avx512_core,forward_inference,src_f32::blocked:aBcd16b:f0,,'
    'alg:convolution_direct,mb1_ic32oc16_ih258oh256kh3sh1dh0ph0_iw258ow256kw3sw1dw0pw0,2.5\n',
    'onednn_verbose,v1,primitive,exec,cpu,matmul,gemm:jit:f32,undef,src:f32::blocked:abc::f0,,,1x288x65536:1x65536x16,'
    '4\n',
    'onednn_verbose,v1,primitive,create:cache_miss,cpu,matmul,gemm:jit:f32,undef,src:f32::blocked:abc::f0,,,'
    '1x288x65536:1x65536x16,0.25\n',
]


def test_onednn_seconds_by_primitive_and_direction():
    seconds = bench.onednn_seconds(LOG)
    assert seconds.keys() == {'convolution forward', 'convolution backward_data', 'matmul'}
    assert abs(seconds['convolution forward'] - 0.012) < 1e-12  # training and inference forwards together
    assert abs(seconds['convolution backward_data'] - 0.01625) < 1e-12
    assert abs(seconds['matmul'] - 0.004) < 1e-12  # creation (cache miss) is not execution


def test_kernel_table_puts_the_rest_outside_onednn():
    result = bench.Result('case', *[0.0] * 16, samples={'torch': [1.0, 0.5], 'graph': [2.0, 1.5], 'pynative': []},
                          onednn_s={'torch': {'convolution forward': 0.25}, 'graph': {'matmul': 0.5}})
    rows = {line[:44].strip(): line[44:].split() for line in bench.kernel_table(result).splitlines()[1:]}
    assert rows == {'convolution forward': ['0.250', '0.000'], 'matmul': ['0.000', '0.500'],
                    'outside oneDNN': ['0.250', '1.000'], 'whole run': ['0.500', '1.500']}
