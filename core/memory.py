"""Memory figures from Linux's /proc: this process's peak and current resident memory (for the summaries and
logs of long runs) and the machine's available memory."""
import resource


def proc_kib(path, key):
    """The number of kB in `key:` of a /proc file (/proc/self/status, /proc/meminfo), or None."""
    try:
        with open(path) as lines:
            for line in lines:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_memory_mib():
    """Linux's VmHWM belongs to the process image, whereas ru_maxrss also counts the parent's memory
    inherited through fork/vfork before exec (a test runner's, say)."""
    peak = proc_kib('/proc/self/status', 'VmHWM')
    return peak / 1024 if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def resident_memory_mib():
    """This process's resident memory now (VmRSS), or NaN where /proc is missing."""
    resident = proc_kib('/proc/self/status', 'VmRSS')
    return resident / 1024 if resident is not None else float('nan')


def available_memory_bytes():
    """Linux's estimate of the memory new allocations can get without swapping (page cache included), or
    None elsewhere."""
    available = proc_kib('/proc/meminfo', 'MemAvailable')
    return available * 1024 if available is not None else None
