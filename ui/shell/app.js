// The shell: sign-in with the API token, first-run onboarding, then the screens.
import * as api from "./api.js";
import { h, errorBox } from "./dom.js";
import { onboarding, unlock } from "./onboarding.js";
import { me } from "./screens/me.js";
import { friends } from "./screens/friends.js";
import { messages } from "./screens/messages.js";
import { orgs } from "./screens/orgs.js";
import { apps } from "./screens/apps.js";
import { node } from "./screens/node.js";

const SCREENS = { me, friends, messages, orgs, apps, node };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const live = document.getElementById("live");

/** Listeners of live events, per screen; replaced on each screen change. */
export const bus = { listeners: new Set(), emit(ev) { for (const f of this.listeners) f(ev); } };

function show(...children) { main.replaceChildren(...children); }

function connectScreen(problem) {
  show(h("div", { class: "center card" },
    h("h1", {}, "Connect to your node"),
    problem ? h("p", { class: "error" }, problem) : null,
    h("p", {}, "This page needs your node's API token. Open the link that ",
      h("code", {}, "leither ui"), " prints, or paste the token from ",
      h("code", {}, "<data dir>/api-token"), "."),
    h("form", {
      onsubmit: (ev) => {
        ev.preventDefault();
        api.setToken(ev.target.elements.token.value);
        start();
      },
    }, h("label", { for: "token" }, "API token"),
    h("input", { id: "token", name: "token", required: true, autocomplete: "off" }),
    h("p", {}, h("button", { type: "submit" }, "Connect")))));
}

let stopEvents = null;

async function route() {
  const name = (location.hash.replace(/^#\/?/, "").split("/")[0]) || "me";
  const screen = SCREENS[name] ? name : "me";
  for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", a.dataset.screen === screen);
  bus.listeners.clear();
  const container = h("section", { "data-screen": screen });
  show(container);
  try {
    await SCREENS[screen](container, bus);
  } catch (e) {
    container.append(errorBox(e));
  }
}

async function start() {
  const token = api.takeToken();
  if (!token) return connectScreen();
  api.useToken(token);
  let status;
  try {
    status = await api.get("/api/v1/identity");
  } catch (e) {
    if (e.code === "unauthorized") { api.forgetToken(); return connectScreen("That token was not accepted."); }
    return show(h("div", { class: "center card" }, h("h1", {}, "The node does not answer"), errorBox(e),
      h("button", { onclick: start }, "Try again")));
  }
  if (status.state === "none") return onboarding(main, start);
  if (status.state === "locked") return unlock(main, start);
  nav.hidden = false;
  if (!stopEvents) {
    stopEvents = api.events((ev) => bus.emit(ev), (on) => {
      live.classList.toggle("on", on);
      live.textContent = on ? "live" : "offline";
    });
  }
  window.onhashchange = route;
  await route();
}

start();
