"""What a benchmark prints about the machine it ran on: a figure holds for
the CPU it was taken on, so every table names the CPU model and its widest
vector extension."""

import os
import platform


def _cpuinfo_field(name):
    """The first value of a /proc/cpuinfo field, or None off Linux."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_model():
    return _cpuinfo_field("model name") or platform.processor() or "unknown CPU"


def vector_isa():
    """The widest x86 vector extension the CPU reports."""
    flags = (_cpuinfo_field("flags") or "").split()
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX")):
        if flag in flags:
            return name
    return "unknown ISA"


def cpu_description():
    """The CPU model, its widest vector extension and its logical CPUs."""
    return f"{cpu_model()}, {vector_isa()}, {os.cpu_count()} logical CPUs"


def _proc_status_mib(field):
    """A memory line of /proc/self/status in MiB, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak_memory():
    """Make VmHWM (the peak resident set) restart from the current one."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_memory_growth_mib(func):
    """Run ``func()``; how far it raised the peak resident memory above what
    the process held before (MiB), or NaN where /proc cannot tell. Run it
    in a fresh process: memory freed earlier would hide a later peak."""
    import gc

    gc.collect()
    before = _proc_status_mib("VmRSS")
    if before is None or not _reset_peak_memory():
        func()
        return float("nan")
    func()
    return _proc_status_mib("VmHWM") - before


def torch_kernels(torch):
    """The vector extension PyTorch's own kernels dispatch to (capped by
    ATEN_CPU_CAPABILITY), or None without PyTorch."""
    if torch is None:
        return None
    return torch.backends.cpu.get_cpu_capability()
