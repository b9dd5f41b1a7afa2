/**
 * The "contribute this browser" page: the browser runtime's template
 * (browser-host/contribute.html) with the host's configuration filled into its
 * `<script type="application/json" id="infermesh-config">` element, which
 * browser-host/page-config.ts reads. Used by the host's `/contribute` route and by the
 * standalone build (`npm run build:browser`).
 */

/** What the page reads from `<script type="application/json" id="infermesh-config">`. */
export interface ContributeConfig {
  /** Multiaddrs (ending in /p2p/<id>) the tab joins through; empty = the page asks. */
  bootstrap: string[];
  /** Text of the mesh's swarm key file, or null for an open mesh. */
  swarmKey: string | null;
  /** Where onnxruntime-web's wasm/mjs files are (absolute or relative to the page). */
  ortBase: string;
  /** The onnxruntime-web worker's script (absolute or relative to the page). */
  workerUrl: string;
}

/**
 * JSON that is safe inside a `<script>` element: `<` never appears literally, so no value can
 * close the element (`</script>`) or open a comment, whatever a multiaddr or key contains.
 */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The page template, written by the browser runtime (repository-relative). */
export const CONTRIBUTE_TEMPLATE = 'browser-host/contribute.html';

/** The template's config element, whose content (`null` in the template) the host replaces. */
const CONFIG_ELEMENT = /(<script type="application\/json" id="infermesh-config">)[\s\S]*?(<\/script>)/;

/** The entry script as the template names it (absolute: the page is served at /contribute). */
const TEMPLATE_SCRIPT = 'src="/contribute/contribute.js"';

/** Raised when the template lacks what the host fills in (it changed shape). */
export class ContributeTemplateError extends Error {
  override name = 'ContributeTemplateError';
}

/**
 * The page: the template with `config` in its config element (`null` leaves the page to its
 * defaults and query parameters, asking for a bootstrap address when it has none) and, when
 * `script` is given, the entry script's URL replaced (the standalone folder uses `./contribute.js`).
 */
export function renderContributePage(template: string, config: ContributeConfig | Partial<ContributeConfig> | null, options: { script?: string } = {}): string {
  if (!CONFIG_ELEMENT.test(template)) {
    throw new ContributeTemplateError(`${CONTRIBUTE_TEMPLATE} has no <script type="application/json" id="infermesh-config"> element for the host to fill in`);
  }
  // A function replacement: `$` in the JSON (a multiaddr, a key) must not be read as a pattern.
  let html = template.replace(CONFIG_ELEMENT, (_m, open: string, close: string) => `${open}${scriptSafeJson(config)}${close}`);
  if (options.script !== undefined) {
    if (!html.includes(TEMPLATE_SCRIPT)) throw new ContributeTemplateError(`${CONTRIBUTE_TEMPLATE} does not load its entry as ${TEMPLATE_SCRIPT}`);
    html = html.replace(TEMPLATE_SCRIPT, () => `src="${options.script!.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)}"`);
  }
  return html;
}

/**
 * The WebSocket multiaddrs a browser can join through, each ending in /p2p/<peerId>.
 *
 * `hostHeader` is the HTTP Host the browser used to load the page: that name reaches this
 * machine by construction, so an address on it (with each WebSocket listener's port) comes
 * first; the host's own listen addresses follow (a wildcard listener expands to every
 * interface, of which the browser may reach only some). Non-WebSocket addresses (TCP) are
 * useless to a browser and left out.
 */
export function browserBootstrap(listenAddrs: readonly string[], peerId: string, hostHeader?: string): string[] {
  const suffix = `/p2p/${peerId}`;
  const ws = listenAddrs
    // A wildcard address (0.0.0.0, ::) is where the host listens, not where anyone can dial it.
    .filter((a) => /\/(ws|wss|tls\/ws)(\/|$)/.test(a) && !a.includes('/p2p-circuit') && !/^\/ip[46]\/(0\.0\.0\.0|::)\//.test(a))
    .map((a) => (a.includes('/p2p/') ? a : a + suffix));
  const out: string[] = [];
  const hostname = hostnameOf(hostHeader);
  if (hostname !== undefined) {
    const proto = hostname.includes(':') ? 'ip6' : /^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) ? 'ip4' : 'dns';
    for (const a of ws) {
      // /ip4/10.0.0.5/tcp/8004/ws/p2p/… → /<proto>/<hostname>/tcp/8004/ws/p2p/…
      const m = /^\/(?:ip4|ip6|dns|dns4|dns6)\/[^/]+(\/tcp\/\d+\/.*)$/.exec(a);
      if (m) out.push(`/${proto}/${hostname}${m[1]}`);
    }
  }
  for (const a of ws) out.push(a);
  return [...new Set(out)];
}

function hostnameOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  try {
    const h = new URL(`http://${hostHeader}`).hostname;
    // URL keeps brackets around IPv6 literals; multiaddrs take them bare.
    return h.startsWith('[') ? h.slice(1, -1) : h || undefined;
  } catch {
    return undefined;
  }
}
