"""This process's peak resident memory, for the summaries of long runs."""
import resource


def peak_memory_mib():
    """Linux's VmHWM belongs to the process image, whereas ru_maxrss also counts the parent's memory
    inherited through fork/vfork before exec (a test runner's, say)."""
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
