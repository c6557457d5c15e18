// The critical-alarm tone: WebAudio, no audio file. Muting is remembered in localStorage.

const KEY = "sitewatch.muted";
let ctx = null;
const listeners = new Set();

export function isMuted() {
  return localStorage.getItem(KEY) === "1";
}

export function setMuted(v) {
  localStorage.setItem(KEY, v ? "1" : "0");
  for (const fn of listeners) fn(v);
}

export function onMute(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** call from a user gesture (sign-in, a click): browsers only start audio after one */
export function unlock() {
  try {
    if (!ctx) ctx = new (window.AudioContext || window.webkitAudioContext)();
    if (ctx.state === "suspended") ctx.resume();
  } catch {
    ctx = null;
  }
}

export let beeps = 0; // for tests and the status bar: tones played since load

/** three short two-tone pulses, the familiar "alarm" cadence */
export function alarmTone() {
  if (isMuted()) return false;
  unlock();
  if (!ctx) return false;
  const t0 = ctx.currentTime + 0.02;
  for (let i = 0; i < 3; i++) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "square";
    const t = t0 + i * 0.32;
    osc.frequency.setValueAtTime(880, t);
    osc.frequency.setValueAtTime(660, t + 0.12);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.18, t + 0.01);
    gain.gain.setValueAtTime(0.18, t + 0.22);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.26);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + 0.28);
  }
  beeps += 1;
  document.documentElement.dataset.beeps = String(beeps);
  return true;
}
