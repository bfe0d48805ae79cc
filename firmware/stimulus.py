"""The `bench` command's arguments: validated as a whole into a simulated-sensor profile.

Flat args (scalars and short lists, as the protocol's command maps allow):

    tone_hz   number 0.1..20000       one tone; needs tone_g
    tone_g    [x, y, z] g, 0..16      its amplitude per axis; needs tone_hz
    noise_g   number 0..16            broadband noise per axis (default 0.002: a sensor's floor)
    imp       [rate_hz 0.1..1000, g 0..16, res_hz 1..20000, decay_ms 0.01..1000]
              bearing-defect impacts ringing at res_hz
    run       bool (default true)     false: the machine is stopped (gravity and noise only)
    schedule  [on_s, off_s] ints      run/stop cycle of machine time, on_s + off_s >= 1
    phase_s   int 0..2^32-1           offset of the schedule (machine time + phase_s)
    seconds   int 0..3600             one window and report per second for that long (0: none)
    hang_s    int 1..600              spin that long without feeding the watchdog (bench mode)

`check(args)` -> (stimulus or None, reason or None). The stimulus is None when no stimulus key
is present (only seconds and/or hang_s). Reasons: `bad_args` (empty), `unknown_key:<k>`,
`bad_type:<k>`, `out_of_range:<k>`, `tone_needs_hz_and_g`.
"""

STIM_KEYS = ("tone_hz", "tone_g", "noise_g", "imp", "run", "schedule", "phase_s")
KEYS = STIM_KEYS + ("seconds", "hang_s")
NOISE_FLOOR_G = 0.002
MAX_U32 = 0xFFFFFFFF
# imp: (lo, hi) per element
_IMP = ((0.1, 1000.0), (0.0, 16.0), (1.0, 20000.0), (0.01, 1000.0))


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _nums(v, n):
    """A list/tuple of n numbers."""
    if not isinstance(v, (list, tuple)) or len(v) != n:
        return False
    for x in v:
        if not _is_num(x):
            return False
    return True


def _why(args):
    """The reason args are unusable, or None. Checks everything; applies nothing."""
    if not isinstance(args, dict) or not args:
        return "bad_args"
    for k in args:
        if k not in KEYS:
            return "unknown_key:" + str(k)
    if "seconds" in args:
        v = args["seconds"]
        if not _is_int(v):
            return "bad_type:seconds"
        if not 0 <= v <= 3600:
            return "out_of_range:seconds"
    if "hang_s" in args:
        v = args["hang_s"]
        if not _is_int(v):
            return "bad_type:hang_s"
        if not 1 <= v <= 600:
            return "out_of_range:hang_s"
    if "tone_hz" in args:
        v = args["tone_hz"]
        if not _is_num(v):
            return "bad_type:tone_hz"
        if not 0.1 <= v <= 20000.0:  # also refuses NaN
            return "out_of_range:tone_hz"
    if "tone_g" in args:
        v = args["tone_g"]
        if not _nums(v, 3):
            return "bad_type:tone_g"
        for x in v:
            if not 0.0 <= x <= 16.0:
                return "out_of_range:tone_g"
    if ("tone_hz" in args) != ("tone_g" in args):
        return "tone_needs_hz_and_g"
    if "noise_g" in args:
        v = args["noise_g"]
        if not _is_num(v):
            return "bad_type:noise_g"
        if not 0.0 <= v <= 16.0:
            return "out_of_range:noise_g"
    if "imp" in args:
        v = args["imp"]
        if not _nums(v, 4):
            return "bad_type:imp"
        for i in range(4):
            if not _IMP[i][0] <= v[i] <= _IMP[i][1]:
                return "out_of_range:imp"
    if "run" in args and not isinstance(args["run"], bool):
        return "bad_type:run"
    if "schedule" in args:
        v = args["schedule"]
        if not isinstance(v, (list, tuple)) or len(v) != 2 or not (_is_int(v[0]) and _is_int(v[1])):
            return "bad_type:schedule"
        if not (0 <= v[0] <= MAX_U32 and 0 <= v[1] <= MAX_U32 and v[0] + v[1] >= 1):
            return "out_of_range:schedule"
    if "phase_s" in args:
        v = args["phase_s"]
        if not _is_int(v):
            return "bad_type:phase_s"
        if not 0 <= v <= MAX_U32:
            return "out_of_range:phase_s"
    return None


def check(args, temp_c=(20.0, 30.0)):
    """(stimulus, None) or (None, reason). stimulus: None (no stimulus key) or
    (profile dict for firmware.sensors.sim, phase_s)."""
    why = _why(args)
    if why:
        return None, why
    has = False
    for k in STIM_KEYS:
        if k in args:
            has = True
    if not has:
        return None, None
    tones = []
    if "tone_hz" in args:
        g = args["tone_g"]
        tones.append([float(args["tone_hz"]), float(g[0]), float(g[1]), float(g[2])])
    imp = args.get("imp")
    sched = args.get("schedule")
    if args.get("run", True) is False:
        sched = [0, 1]  # never running
    profile = {
        "tones": tones,
        "noise_g": float(args.get("noise_g", NOISE_FLOOR_G)),
        "impulses": [float(x) for x in imp] if imp is not None else None,
        "schedule": [sched[0], sched[1]] if sched is not None else None,
        "growth": [0.0, 0.0],
        "temp_c": [temp_c[0], temp_c[1]],
    }
    return (profile, args.get("phase_s", 0)), None
