"""The node application: a cooperative, non-blocking step loop.

    node = Node(...); while True: delay = node.poll(clock.ticks_ms()); sleep(delay)

Each poll: boot once (birth frame), service the transport and inbound acks/commands, take a
window when due (features -> runtime -> report), persist counters when due, send stored
frames in order, and feed the watchdog only if the loop is healthy. No step blocks longer
than a sensor window (n / rate, 0.32 s at 1024 / 3200 Hz) or a socket timeout.

Seq semantics: one counter per boot; the birth is seq 0; reports and events take the next
seq when they are created. Every frame goes through the ring and stays there until the
gateway's ack releases it.

Sensor honesty: a window the sensor did not deliver (absent, timeout, bus error) or that is
no vibration signal (flat, saturated: sensors/check.py) is a sensor fault: a `sensor_fault`
event, the `sensor_fault` flag on reports and no vibration values in them (zeros the
protocol marks invalid). The simulated sensor runs only in bench mode (node.json `bench`).
"""


from firmware import config as cfgmod
from firmware import ota
from firmware import stimulus
from firmware.clock import ticks_add, ticks_diff
from firmware.features import Features, zeros
from firmware.persist import Store
from firmware.ring import Ring
from firmware.runtime import Runtime
from firmware.sensors.check import WindowCheck
from protocol import frames
from protocol.errors import ProtocolError

FW_VERSION = "0.2.0"
MAX_TIME = 0xFFFFFFFF
MAX_SEQ = 0xFFFFFFFF  # seq is a u32 on the wire
RSSI_EVENT_MS = 3_600_000  # a `wifi_rssi` event this often on Wi-Fi (the birth has the first)


class Node:
    def __init__(
        self,
        node_id,
        sensor,
        transport,
        clock,
        fs,
        board="host",
        wdt=None,
        reset_cause="power_on",
        temp=None,
        reset=None,
        transport_name="mqtt",
        wdt_ms=8000,
        bench=False,
        heap=None,
    ):
        """temp: a temperature source (sensors/temp.py) or a callable -> degC or None;
        default the sensor's own. bench: node.json asks for bench mode (the simulated sensor
        may run). heap: callable -> (free, largest block) for the birth frame (firmware.heap)."""
        self.node_id = node_id
        self.sensor = sensor  # the active sensor: hw_sensor, or the bench-mode simulation
        self.hw_sensor = sensor
        self.transport = transport
        self.clock = clock
        self.fs = fs
        self.board = board
        self.wdt = wdt
        self.wdt_ms = wdt_ms
        self.reset_cause = reset_cause
        self.temp_fitted = _temp_source(temp, sensor)  # what the board has (main.make_temp)
        self.bench = bench
        self.heap = heap
        self.temp_c = None  # the temperature source's latest reading
        self._temp_fault = None
        self.fault_why = None  # why the last window was a sensor fault (None: it was not)
        self.reset_fn = reset
        self.transport_name = transport_name
        self.cfg, self.cfg_from_file = cfgmod.load(fs, sensor.RATES)
        # the configured source; a probe removed since it was configured: the fitted one
        self.temp = self._temp_for(self.cfg["temp_source"]) or self.temp_fitted
        self.rt = Runtime(Store(fs), self.cfg)
        self.rt.adopt(*cfgmod.load_replacement(fs))  # a replacement board (kizashi node replace)
        self.updater = ota.NodeUpdater(fs, cfgmod.load_fleet_key(fs))  # over-the-air updates
        self._first_report = None  # seq of this boot's first report (trial confirmation)
        self.boot_id = 0
        self.seq = 0
        self.ring = Ring(0, 1)  # replaced at boot, once boot_id is known
        self._booted = False
        self._alloc()
        self.stats = {"windows": 0, "reports": 0, "events": 0, "errors": 0, "sent": 0}
        self.alarm = False
        self.fault = False
        self.last = None  # last window's AxisResult triple
        self._peak_ug = 0  # largest peak since the last report
        self._epoch = None  # wall seconds at _uptime_ms == 0
        self._uptime_ms = 0
        self._prev_now = None
        self._last_window = None
        self._next_window = 0
        self._next_report = 0
        self._next_rssi = 0
        self._last_progress = 0
        self._was_up = False
        self._bench_until = None
        self._bench_saved = None  # bench stimulus active: what to restore when it ends
        self._hang_ms = 0
        self._hang_at = 0
        self._reboot_at = None
        self._last_cmd = -1
        self._errors = 0
        self._healthy_at = 0
        self._last_good = 0

    def _limits(self):
        """The alarm limits in um/s (the window's velocity unit), once per configuration."""
        self._alarm_um = self.cfg["vel_alarm_mm_s"] * 1000.0
        self._clear_um = self.cfg["vel_clear_mm_s"] * 1000.0

    def _alloc(self):
        self._limits()
        n = self.cfg["window"]
        self.bx = zeros("h", n)  # no bytes template: no garbage the size of the buffers
        self.by = zeros("h", n)
        self.bz = zeros("h", n)
        self.features = Features(
            n,
            self.cfg["rate_hz"],
            self.sensor.lsb_g,
            (self.cfg["band_lo_hz"], self.cfg["band_hi_hz"]),
        )
        self.check = WindowCheck(self.features.k)
        self.sensor.configure(self.cfg["rate_hz"])

    # ------------------------------------------------------------ time and frames

    def time_s(self):
        up = self._uptime_ms // 1000
        t = up if self._epoch is None else self._epoch + up
        return t if 0 <= t <= MAX_TIME else 0

    def _flags(self):
        f = 0
        if self.rt.running:
            f |= frames.FLAG_RUNNING
        if self.alarm:
            f |= frames.FLAG_ALARM
        if self._epoch is None:
            f |= frames.FLAG_CLOCK_UNSYNCED
        if self.fault:
            f |= frames.FLAG_SENSOR_FAULT
        if not self.cfg_from_file:
            f |= frames.FLAG_DEFAULT_CONFIG
        return f

    def _next_seq(self):
        """The seq the next frame will take. The caller commits it (self.seq = seq) only
        after encoding succeeded, so a failed encode never leaves an unexplained gap."""
        if self.seq >= MAX_SEQ:
            # The boot's sequence space is used up: reboot into a new boot (new boot id,
            # seq 0) rather than wrap, which the gateway would take for a replay.
            self._reboot_at = self._prev_now
            raise OverflowError("seq exhausted")
        self.ring.reserve()  # drops (and counts) before the frame's dropped count is read
        return self.seq + 1

    def event(self, code, detail):
        seq = self._next_seq()
        frame = frames.encode_event(self.node_id, self.boot_id, seq, self.time_s(), code, detail)
        self.seq = seq
        self.ring.push(seq, frame)
        self.stats["events"] += 1

    def birth_info(self):
        c = self.cfg
        info = {
            "fw": FW_VERSION,
            "board": self.board,
            "sensor": self.sensor.name,
            "rate_hz": c["rate_hz"],
            "band_hz": [c["band_lo_hz"], c["band_hi_hz"]],
            "cfg_hash": cfgmod.cfg_hash(c),
            "reset": self.reset_cause,
            "runtime_s": self.rt.runtime_s,
            "starts": self.rt.starts,
            "report_s": c["report_s"],
            "transport": self.transport_name,
            "ring_cap": c["ring_ram"] + c["ring_seg_frames"] * c["ring_segs"],
            "window": c["window"],
            "kernels": self.features.kernels_in_use,
            "slot": self.updater.table.active,
            "rollbacks": self.updater.table.rollbacks,
            "temp_source": self.temp.name,
            "bench": self.bench,
        }
        if self.heap is not None:
            free, block = self.heap()
            info["heap_free"] = free
            info["heap_max_block"] = block
        rssi = self._rssi()
        if rssi is not None:
            info["rssi_dbm"] = rssi
        return info

    def _rssi(self):
        """The Wi-Fi RSSI in dBm where the transport has Wi-Fi (MqttTransport.rssi), else None."""
        f = getattr(self.transport, "rssi", None)
        return f() if f is not None else None

    def _boot(self, now):
        self._prev_now = now
        self.boot_id = self.rt.new_boot(now)
        c = self.cfg
        self.ring = Ring(self.boot_id, c["ring_ram"], self.fs, c["ring_seg_frames"], c["ring_segs"])
        if hasattr(self.transport, "set_will"):
            self.transport.set_will(frames.encode_death(self.node_id, self.boot_id))
        self.seq = 0
        self.ring.push(0, frames.encode_birth(self.node_id, self.boot_id, 0, self.birth_info()))
        if self.ring.segs:
            self.event("backlog", {"frames": len(self.ring)})
        self._next_window = now
        self._next_report = ticks_add(now, c["report_s"] * 1000)
        self._next_rssi = ticks_add(now, RSSI_EVENT_MS)
        self._last_progress = now
        self._healthy_at = now
        self._last_good = now
        self._booted = True

    # ------------------------------------------------------------ the loop

    def poll(self, now=None):
        """One cooperative step. Returns the suggested delay (ms) before the next poll."""
        if now is None:
            now = self.clock.ticks_ms()
        if not self._booted:
            self._boot(now)
        d = ticks_diff(now, self._prev_now)
        if d > 0:
            self._uptime_ms += d
        self._prev_now = now
        ok = True
        try:
            # First, so that nothing failing later in the step can hold off a due reboot.
            if self._reboot_at is not None and ticks_diff(now, self._reboot_at) >= 0:
                self._reboot_at = None
                self.rt.save(now)
                if self.reset_fn is not None:
                    self.reset_fn()
            self.transport.poll(now)
            inbound = self.transport.inbound
            while inbound:
                self.handle(inbound.pop(0), now)
            if self.updater.poll(self._uptime_ms) and self.reset_fn is not None:
                self.rt.save(now)  # the build on trial never reached the gateway: roll back
                self.reset_fn()
            if ticks_diff(now, self._next_window) >= 0:
                self._window(now)
            if ticks_diff(now, self._next_report) >= 0:
                self._report(now)
            if ticks_diff(now, self._next_rssi) >= 0:
                self._next_rssi = ticks_add(now, RSSI_EVENT_MS)
                rssi = self._rssi()
                if rssi is not None:  # an event, not a report field: reports stay <= 48 B
                    self.event("wifi_rssi", {"rssi_dbm": rssi})
            if self.rt.due(now, ticks_diff):
                self.rt.save(now)
            self._send(now)
            self._errors = 0
        except Exception as e:  # the loop must survive; repeated failure starves the WDT
            ok = False
            self._errors += 1
            self.stats["errors"] += 1
            if self._errors == 1:
                try:
                    self.event("error", {"what": str(e)[:60]})
                except Exception:
                    pass
        if self._hang_ms and (
            self.ring.peek() is None or ticks_diff(now, self._hang_at) >= 2000
        ):  # once the cmd_ok went out (or 2 s later)
            ms = self._hang_ms
            self._hang_ms = 0
            self._spin(ms)
        self._feed(now, ok)
        wait = ticks_diff(self._next_window, now)
        r = ticks_diff(self._next_report, now)
        if r < wait:
            wait = r
        if self.transport.connected() and self.ring.peek() is not None:
            wait = 0
        if self.updater.busy():  # an update's checks run one slice per poll
            wait = 0
        return max(0, min(wait, 1000))

    def _spin(self, ms):
        """bench hang_s: block the loop without feeding the watchdog (a stuck driver)."""
        end = ticks_add(self.clock.ticks_ms(), ms)
        while ticks_diff(self.clock.ticks_ms(), end) < 0:
            pass

    def _feed(self, now, ok):
        """Feed only while healthy: this poll succeeded and a window was completed (features
        computed, or a sensor fault handled) within the last three window periods."""
        if ok and self._errors == 0:
            if ticks_diff(now, self._last_good) < 3 * self.cfg["window_s"] * 1000:
                self._healthy_at = now
        if self.wdt is not None and ticks_diff(now, self._healthy_at) < self.wdt_ms // 2:
            self.wdt.feed()

    def _period(self):
        c = self.cfg
        if self._bench_until is not None:
            return 1
        if self.alarm:
            return min(c["window_s"], c["alarm_report_s"])
        return c["window_s"]

    def _window(self, now):
        elapsed = 0 if self._last_window is None else ticks_diff(now, self._last_window)
        self._last_window = now
        self._next_window = ticks_add(now, self._period() * 1000)
        c = self.cfg
        self._temperature(now)
        why = self._read(c["window"])
        if why is not None:
            if why != self.fault_why:
                self.fault = True
                self.fault_why = why
                self.event("sensor_fault", {"why": why, "sensor": self.sensor.name})
            self.rt.advance(elapsed)
            self.last = None
            self._last_good = now
            return
        if self.fault:
            self.fault = False
            self.fault_why = None
            self.event("sensor_ok", {})
        ax = self.features.compute(self.bx, self.by, self.bz)
        self._last_good = now
        self.stats["windows"] += 1
        self.last = ax
        # The features are ints (ug, um/s): no float per window (features.AxisResult).
        a0, a1, a2 = ax
        level = a0.rms_ug
        if a1.rms_ug > level:
            level = a1.rms_ug
        if a2.rms_ug > level:
            level = a2.rms_ug
        vel = a0.vel_um_s
        if a1.vel_um_s > vel:
            vel = a1.vel_um_s
        if a2.vel_um_s > vel:
            vel = a2.vel_um_s
        peak = self._peak_ug
        if a0.peak_ug > peak:
            peak = a0.peak_ug
        if a1.peak_ug > peak:
            peak = a1.peak_ug
        if a2.peak_ug > peak:
            peak = a2.peak_ug
        self._peak_ug = peak
        rt = self.rt
        rt.update_fine(level, vel, elapsed)
        if rt.due(now, ticks_diff):
            rt.save(now)
        if not self.alarm and vel >= self._alarm_um:
            self.alarm = True
            self.event("alarm", {"vel_mm_s_x100": (vel + 5) // 10})
            self._next_report = now  # report at once
        elif self.alarm and vel < self._clear_um:
            self.alarm = False
            self.event("alarm_clear", {"vel_mm_s_x100": (vel + 5) // 10})

    def _read(self, n):
        """Fill the window buffers. None if they hold a vibration signal, else why not."""
        s = self.sensor
        try:
            ok = s.read_window(self.bx, self.by, self.bz, n)
        except OSError:  # the bus itself failed (I2C/SPI error)
            return "bus_error"
        if not ok:
            return "absent" if s.name == "none" else "no_data"
        return self.check.fault(self.bx, self.by, self.bz, n, s.full_scale)

    def _temperature(self, now):
        src = self.temp
        src.step(now)
        self.temp_c = src.value()
        why = src.fault
        was = self._temp_fault
        self._temp_fault = why
        if (why is None) != (was is None):  # one event per fault, whatever its reasons
            if why is None:
                self.event("temp_ok", {"source": src.name})
            else:
                self.event("temp_fault", {"source": src.name, "why": why})

    def _report(self, now):
        c = self.cfg
        p = c["alarm_report_s"] if self.alarm else c["report_s"]
        if self._bench_until is not None:
            if ticks_diff(now, self._bench_until) >= 0:
                self._bench_until = None
            else:
                p = 1
        self._next_report = ticks_add(now, p * 1000)
        ax = self.last
        flags = self._flags()
        if ax is None:  # no window yet, or a sensor fault: zeros, which the flag marks invalid
            six = [0, 0, 0, 0, 0, 0]
            peak = 0
            kurt = 0
        else:
            # Wire units from the window's ints (mg, mm/s x100, kurtosis x100), rounded half
            # up and clipped like frames.encode_report (a clipped value flags the frame).
            six = [
                (ax[0].rms_ug + 500) // 1000,
                (ax[1].rms_ug + 500) // 1000,
                (ax[2].rms_ug + 500) // 1000,
                (ax[0].vel_um_s + 5) // 10,
                (ax[1].vel_um_s + 5) // 10,
                (ax[2].vel_um_s + 5) // 10,
            ]
            peak = (self._peak_ug + 500) // 1000
            kurt = max(ax[0].kurt_x1000, ax[1].kurt_x1000, ax[2].kurt_x1000)
            kurt = (kurt + 5) // 10 if kurt >= 0 else -((5 - kurt) // 10)  # half away from 0
            if ax[0].saturated or ax[1].saturated or ax[2].saturated:
                flags |= frames.FLAG_SATURATED
            for i in range(6):
                if six[i] > 0xFFFF:
                    six[i] = 0xFFFF
                    flags |= frames.FLAG_SATURATED
            if peak > 0xFFFF:
                peak = 0xFFFF
                flags |= frames.FLAG_SATURATED
            if kurt > 32767 or kurt < -32767:
                kurt = 32767 if kurt > 0 else -32767
                flags |= frames.FLAG_SATURATED
        t = self.temp_c
        if t is None:
            temp = frames.TEMP_NONE
        else:
            temp = int(t * 10.0 + 0.5) if t >= 0 else -int(-t * 10.0 + 0.5)
            temp = 32767 if temp > 32767 else -32767 if temp < -32767 else temp
        seq = self._next_seq()
        frame = frames.encode_report_raw(
            self.node_id,
            self.boot_id,
            seq,
            self.time_s(),
            flags,
            self.ring.dropped,
            self.rt.runtime_s,
            self.rt.starts,
            six,
            peak,
            kurt,
            temp,
        )
        self._peak_ug = 0
        self.seq = seq
        self.ring.push(seq, frame)
        self.stats["reports"] += 1
        if self._first_report is None:
            self._first_report = seq

    def _send(self, now):
        t = self.transport
        up = t.connected()
        if not up:
            self._was_up = False
            return
        if not self._was_up:
            self._was_up = True
            self.ring.rewind()  # resend everything unreleased, oldest first
            self._last_progress = now
        if ticks_diff(now, self._last_progress) > self.cfg["ack_timeout_s"] * 1000:
            self.ring.rewind()
            self._last_progress = now
        for _ in range(self.cfg["send_burst"]):
            item = self.ring.peek()
            if item is None:
                self._last_progress = now
                return
            boot, seq, frame = item
            leaf = "birth" if frame[1] & 0x0F == frames.BIRTH else "data"
            if not t.send(leaf, frame):
                return
            self.ring.mark_sent(boot, seq)
            self.stats["sent"] += 1

    # ------------------------------------------------------------ inbound

    def handle(self, payload, now):
        try:
            f = frames.decode(payload)
        except ProtocolError as e:
            self.event("cmd_refused", {"why": e.reason})
            return
        if f["node"] != self.node_id:
            self.event("cmd_refused", {"why": "wrong_node"})
            return
        kind = f["kind"]
        if kind == "ack":
            if self.ring.ack(f["boot"], f["seq"]):
                self._last_progress = now
            fr = self._first_report
            if fr is not None and f["boot"] == self.boot_id and f["seq"] >= fr:
                if self.updater.confirm():  # birth and a report acked: the new build works
                    self.event("update_ok", {"slot": self.updater.table.active})
            return
        if kind != "command":
            self.event("cmd_refused", {"why": "not_a_command"})
            return
        cid = f["seq"]
        if f["boot"] not in (0, self.boot_id):
            self._refuse(cid, f["name"], "wrong_boot")
            return
        if cid == self._last_cmd:
            return  # a duplicate delivery: already answered
        self._last_cmd = cid
        name = f["name"]
        why = getattr(self, "_cmd_" + name)(f["args"], now)
        if why:
            self._refuse(cid, name, why)
        elif name == "update":
            detail = {"cmd": cid, "name": name}
            detail.update(self.updater.detail)
            self.event("cmd_ok", detail)
        elif name == "config":  # the gateway records the configuration now in force
            self.event("cmd_ok", {"cmd": cid, "name": name, "cfg_hash": cfgmod.cfg_hash(self.cfg)})
        else:
            self.event("cmd_ok", {"cmd": cid, "name": name})

    def _refuse(self, cid, name, why):
        self.event("cmd_refused", {"cmd": cid, "name": name, "why": why})

    # Each handler validates everything first and returns a reason, or applies and returns None.

    def _cmd_config(self, args, now):
        new, why = cfgmod.merged(self.cfg, args, self.hw_sensor.RATES)
        if why:
            return why
        for key in cfgmod.REBOOT_KEYS:
            if new[key] != self.cfg[key]:
                return "needs_reboot:" + key
        temp = self._temp_for(new["temp_source"])
        if temp is None:  # part of the whole configuration: nothing is applied
            return "temp_source_unavailable"
        try:
            cfgmod.save(self.fs, new)
        except OSError:
            return "flash_error"
        realloc = new["window"] != self.cfg["window"] or new["rate_hz"] != self.cfg["rate_hz"]
        band = (new["band_lo_hz"], new["band_hi_hz"]) != (
            self.cfg["band_lo_hz"],
            self.cfg["band_hi_hz"],
        )
        self.cfg = new
        self._limits()
        self.cfg_from_file = True
        if temp is not self.temp:
            self.temp = temp
            self._temp_fault = None  # the old source's fault is not the new one's
        self.rt.configure(new)
        if realloc or band:
            self._alloc()
        self._next_report = ticks_add(now, new["report_s"] * 1000)
        self._next_window = ticks_add(now, self._period() * 1000)
        return None

    def _temp_for(self, name):
        """The temperature source config `temp_source` names, or None if the board lacks it."""
        fitted = self.temp_fitted
        if name == "auto" or name == fitted.name:
            return fitted
        if name == "none":
            return _CallableTemp(_no_temp, "none")
        if name == "sensor":
            return _CallableTemp(self.hw_sensor.temperature, "sensor")
        return None  # ds18b20 or board when the board has neither fitted

    def _cmd_time(self, args, now):
        # protocol: args == {"t": u32 epoch seconds}
        t = args.get("t")
        if not isinstance(t, int) or isinstance(t, bool) or not 1_600_000_000 <= t <= MAX_TIME:
            return "bad_epoch"
        self._epoch = t - self._uptime_ms // 1000
        return None

    def _cmd_resend(self, args, now):
        # protocol: args == {"boot", "from", "to"}; every stored frame from (boot, from) on is
        # sent again in order (frames already released by an ack are gone).
        boot = args.get("boot")
        first = args.get("from")
        if not isinstance(boot, int) or not isinstance(first, int) or boot > self.boot_id:
            return "bad_args"
        self.ring.rewind_to(boot, first)
        self._last_progress = now
        return None

    def _cmd_bench(self, args, now):
        # Flat args, validated as a whole by firmware.stimulus (see there and FIRMWARE.md).
        hw = self.hw_sensor
        temp_c = hw.profile["temp_c"] if hw.name == "sim" else (20.0, 30.0)
        stim, why = stimulus.check(args, temp_c)
        if why:
            return why
        if ("hang_s" in args or stim is not None) and not self.bench:
            return "not_bench_mode"  # node.json did not ask for bench mode: no simulation
        if "hang_s" in args and stim is None and self.sensor.name != "sim":
            return "not_bench_mode"  # never hang a node that watches a real machine
        if stim is not None:
            self._bench_apply(stim[0], stim[1])
        elif len(args) == 1 and args.get("seconds") == 0:
            self._bench_end()
        if "seconds" in args:
            s = args["seconds"]
            self._bench_until = ticks_add(now, s * 1000) if s else None
            self._next_window = now
            self._next_report = now
        if "hang_s" in args:
            self._hang_ms = args["hang_s"] * 1000
            self._hang_at = now
        return None

    def _bench_apply(self, profile, phase_s):
        """Bench mode: the simulated sensor replaces the accelerometer until `bench
        {seconds: 0}` or a reboot (RAM only). A board without accelerometer already runs the
        simulation: its profile is replaced (and restored at the end)."""
        cur = self.sensor
        if self._bench_saved is None:
            if cur.name == "sim":
                self._bench_saved = (cur.profile, cur.phase_s)
            else:
                self._bench_saved = (None, 0)
        if cur.name == "sim":
            cur.profile = profile
            cur.phase_s = phase_s
            return
        from firmware.sensors.sim import SimSensor

        self._use(SimSensor(profile, self.boot_id, self._machine_s, 0.0, phase_s))

    def _machine_s(self):
        return self._uptime_ms / 1000.0

    def _bench_end(self):
        saved = self._bench_saved
        if saved is None:
            return
        self._bench_saved = None
        if saved[0] is None:
            self._use(self.hw_sensor)
        else:
            self.sensor.profile = saved[0]
            self.sensor.phase_s = saved[1]

    def _use(self, sensor):
        old = self.sensor
        self.sensor = sensor
        if sensor.lsb_g != old.lsb_g:
            self._alloc()
        else:
            sensor.configure(self.cfg["rate_hz"])

    def _cmd_update(self, args, now):
        # Over-the-air update steps (firmware/ota.py); a committed build boots 2 s later.
        why = self.updater.command(args)
        if why is None and args.get("op") == "commit":
            self._reboot_at = ticks_add(now, 2000)
        return why

    def _cmd_reboot(self, args, now):
        if args:
            return "bad_args"
        self._reboot_at = ticks_add(now, 2000)  # time to send cmd_ok first
        return None


class _CallableTemp:
    """A plain callable -> degC or None as a temperature source (host tests, old callers)."""

    fault = None

    def __init__(self, fn, name):
        self.fn = fn
        self.name = name

    def step(self, now_ms):
        pass

    def value(self):
        return self.fn()


def _no_temp():
    return None


def _temp_source(temp, sensor):
    if temp is None:
        return _CallableTemp(sensor.temperature, "sensor")
    if hasattr(temp, "step"):
        return temp
    return _CallableTemp(temp, "board")
