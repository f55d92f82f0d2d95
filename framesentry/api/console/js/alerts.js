// The page-wide alert bar (a stream turned Fake) and its optional sound.

const SOUND_KEY = "framesentry.alertSound";

export const sound = {
  get on() { return localStorage.getItem(SOUND_KEY) === "1"; },
  set on(value) { localStorage.setItem(SOUND_KEY, value ? "1" : "0"); },
};

function beep() {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.15;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.35);
    osc.onended = () => ctx.close();
  } catch { /* no audio output: the visual alert is enough */ }
}

export function raiseAlert(text, href) {
  const bar = document.getElementById("alert");
  bar.replaceChildren();
  const link = document.createElement("a");
  link.textContent = text;
  link.href = href || "#/monitor";
  link.style.color = "inherit";
  const dismiss = document.createElement("button");
  dismiss.type = "button";
  dismiss.textContent = "Dismiss";
  dismiss.onclick = () => { bar.hidden = true; };
  bar.append(link, dismiss);
  bar.hidden = false;
  if (sound.on) beep();
}
