/**
 * The notification sound of the web UI: two short soft tones made with the
 * Web Audio API (no sound file to serve, nothing for the page's strict
 * Content-Security-Policy to allow). Browsers only let a page make sound
 * after the user has interacted with it; before that the chime is silent.
 */

/** The two tones (Hz) and how long each sounds (s): a short, rising "ding-dong" that is not alarming. */
const TONES = [880, 1175];
const TONE_S = 0.12;
/** Peak loudness, 0..1: quiet enough for an open-plan office. */
const VOLUME = 0.08;

let context: AudioContext | null = null;

export function chime(): void {
  try {
    const Ctx = window.AudioContext;
    if (!Ctx) return;
    context ??= new Ctx();
    const ctx = context;
    if (ctx.state === 'suspended') void ctx.resume().catch(() => {});
    TONES.forEach((hz, i) => {
      const start = ctx.currentTime + i * TONE_S;
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(VOLUME, start);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + TONE_S);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + TONE_S);
    });
  } catch {
    // No sound is better than a broken page.
  }
}
