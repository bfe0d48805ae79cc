"""Running/stopped detection, runtime hours, start count and the consumed-life clock.

- State: running when the vibration level (largest axis acceleration RMS, g) has been above
  `on_g` for `on_windows` consecutive windows, stopped when below `off_g` (< on_g) for
  `off_windows`: hysteresis in level and in time, so a machine near the threshold does not
  chatter.
- Time between two windows counts as running when the state at the start of the interval was
  running; milliseconds are carried so no fraction is lost.
- Consumed life: each running second counts (v / v_ref)^p seconds (ISO 281 life exponent
  p = 3 for ball bearings, velocity RMS as the load proxy), the factor clipped to [0, 64].
- Persisted through persist.Store at most once per `save_s` (and on demand, e.g. before a
  commanded reboot), together with the running state: after a reset the state starts as it
  was at the last save, so a machine that kept running through a node reboot is not counted
  as a new start (and one that stopped meanwhile is detected as a stop, not a start).
"""

from firmware.persist import Record

MAX_FACTOR = 64.0
Q = 4096  # the life factor in the node's path: Q12 fixed point, at most 64 * Q


class Runtime:
    def __init__(self, store, cfg):
        self.store = store
        self.configure(cfg)
        rec = store.load()
        self.boot_id = rec.boot_id
        self.runtime_s = rec.runtime_s
        self.starts = rec.starts
        self.life_s = rec.life_s
        self.running = rec.running
        self._count = 0
        self._ms = 0  # running milliseconds not yet in runtime_s
        self._life_q = 0  # consumed-life milliseconds * Q not yet in life_s (< 1000 * Q)
        self._factor_q = 0  # life factor * Q
        self._last = None
        self._last_save = None
        self.dirty = False

    def configure(self, cfg):
        self.on_g = cfg["run_on_g"]
        self.off_g = cfg["run_off_g"]
        self.on_windows = cfg["run_on_windows"]
        self.off_windows = cfg["run_off_windows"]
        self.v_ref = cfg["life_v_ref_mm_s"]
        self.p = cfg["life_exponent"]
        self.save_s = cfg["save_s"]
        # The same limits in the units of a window's integers (ug, um/s): the node compares
        # its ints with these floats, which allocates nothing (a float product would).
        self.on_ug = self.on_g * 1e6
        self.off_ug = self.off_g * 1e6
        self.v_ref_um = int(self.v_ref * 1000.0 + 0.5)
        self.p_int = int(self.p) if self.p == int(self.p) else 0  # 0: a fractional exponent

    def record(self):
        return Record(0, self.boot_id, self.runtime_s, self.starts, self.life_s, self.running)

    def adopt(self, boot_base, counters):
        """A replacement board (node.json `boot_base`, `counters`, written by `kizashi node
        replace`): boot ids continue above every boot id the gateway has seen for this node
        id, so the gateway accepts the new board and still refuses replays of the old one;
        a blank flash (no valid record: a new or wiped board) takes over the machine's
        counters instead of starting them at zero."""
        if counters and self.store.slot < 0:
            self.runtime_s = counters["runtime_s"]
            self.starts = counters["starts"]
            self.life_s = counters["life_s"]
        if self.boot_id < boot_base - 1:
            self.boot_id = boot_base - 1

    def new_boot(self, now_ms):
        """Count this boot and persist it at once: boot_id must never repeat."""
        self.boot_id += 1
        self._last = now_ms
        self.store.save(self.record())
        self._last_save = now_ms
        return self.boot_id

    def advance(self, elapsed_ms):
        """Accrue `elapsed_ms` in the current state."""
        if elapsed_ms <= 0 or not self.running:
            return
        self._ms += elapsed_ms
        whole = self._ms // 1000
        if whole:
            self.runtime_s += whole
            self._ms -= whole * 1000
            self.dirty = True
        # life ms * Q += elapsed * factor_q, in chunks whose products stay below 2**30
        f = self._factor_q
        acc = self._life_q
        whole = 0
        while elapsed_ms > 0:
            chunk = elapsed_ms if elapsed_ms < 2048 else 2048
            acc += chunk * f
            elapsed_ms -= chunk
            if acc >= 1000 * Q:
                w = acc // (1000 * Q)
                whole += w
                acc -= w * 1000 * Q
        self._life_q = acc
        if whole:
            self.life_s += whole
            self.dirty = True

    def update(self, level_g, vel_mm_s, elapsed_ms):
        """One window: accrue the interval, then update the state. Returns 'start'/'stop'/None."""
        return self.update_fine(level_g * 1e6, vel_mm_s * 1000.0, elapsed_ms)

    def update_fine(self, level_ug, vel_um_s, elapsed_ms):
        """update() with the window's integers (level in ug, velocity in um/s): the node's
        path. The life factor (v / v_ref)^p is still a float (a non-integer exponent)."""
        self.advance(elapsed_ms)
        self._factor_q = self._life_factor_q(vel_um_s)
        change = None
        if self.running:
            if level_ug < self.off_ug:
                self._count += 1
                if self._count >= self.off_windows:
                    self.running = False
                    self._count = 0
                    self.dirty = True  # persist the state change
                    change = "stop"
            else:
                self._count = 0
        else:
            if level_ug > self.on_ug:
                self._count += 1
                if self._count >= self.on_windows:
                    self.running = True
                    self._count = 0
                    self.starts += 1
                    self.dirty = True
                    change = "start"
            else:
                self._count = 0
        return change

    def _life_factor_q(self, vel_um_s):
        """(v / v_ref)^p * Q, clipped to 64 * Q. Integer exponents (the usual 3) in small
        ints, ratio and products rounded to Q12 (within 0.5% above 0.05, 2/4096 below); a fractional
        exponent needs float pow (a few boxed floats per window)."""
        vref = self.v_ref_um
        v = int(vel_um_s)
        if v <= 0 or vref <= 0:
            return 0
        if v >= 64 * vref:
            return 64 * Q  # the exponent is >= 1
        p = self.p_int
        if p == 0:
            f = (v / vref) ** self.p
            return 64 * Q if f >= MAX_FACTOR else int(f * Q + 0.5)
        whole = v // vref
        r = (whole << 12) + (((v - whole * vref) << 12) + (vref >> 1)) // vref  # v/vref * Q
        f = Q
        while p > 0:
            # f * r / Q with f, r < 2**19, as two products below 2**28
            f = ((f * (r >> 9) + 4) >> 3) + ((f * (r & 511) + 2048) >> 12)
            if f >= 64 * Q:
                return 64 * Q
            p -= 1
        return f

    def due(self, now_ms, ticks_diff):
        if not self.dirty:
            return False
        if self._last_save is None:
            return True
        return ticks_diff(now_ms, self._last_save) >= self.save_s * 1000

    def save(self, now_ms):
        self.store.save(self.record())
        self._last_save = now_ms
        self.dirty = False
