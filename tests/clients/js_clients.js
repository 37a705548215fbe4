#!/usr/bin/env node
// Drives the real eureka-js-client (npm, pinned in package-lock.json) against a rollcall server.
//
// Two client objects register two instances of app "js-svc" (lower case, as js users write it;
// one through the Netflix path /eureka/v2/apps/, one through Spring's /eureka/apps/, one with an
// instanceId and numeric port, one identified by hostName with the port as strings), heartbeat
// every second, discover PY-SVC (registered concurrently by py_clients.py) through
// getInstancesByAppId / getInstancesByVipAddress, follow PY-SVC's instance 2 going
// OUT_OF_SERVICE and back, re-register by themselves when the server forgets them (heartbeat
// 404), and deregister with stop(). Every step is asserted.
//
// Markers in --sync DIR (see py_clients.py): writes js.registered, js.discovered, js.saw-oos,
// js.ready-to-stop, js.stopped; waits for py.discovered, py.oos, py.restored, py.ready-to-stop,
// and with --hold for harness.saw-registered and go-stop.
//
// Exit status 0 when everything held, 1 with a line starting "FAIL [js]" otherwise.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

let Eureka;
try {
  ({ Eureka } = require('eureka-js-client'));
} catch (e) {
  console.error(`FAIL [js]: cannot load eureka-js-client (${e.message}); ` +
    'install it with `npm ci --prefix tests/clients` (.ci/run does)');
  process.exit(2);
}

const PEER_APP = 'PY-SVC';
const PEER = [['127.0.10.1', 8101], ['127.0.10.2', 8102]];

class Failure extends Error {}

function log(msg) {
  console.error(`[js ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const args = { hold: false, timeout: 30 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--hold') args.hold = true;
    else if (a === '--eureka') args.eureka = argv[++i];
    else if (a === '--sync') args.sync = argv[++i];
    else if (a === '--timeout') args.timeout = Number(argv[++i]);
    else throw new Failure(`unknown argument ${a}`);
  }
  if (!args.eureka || !args.sync) {
    throw new Failure('usage: js_clients.js --eureka http://127.0.0.1:PORT --sync DIR [--hold] [--timeout S]');
  }
  return args;
}

// A client's logger: warnings and errors go to stderr with the instance name, and are kept so
// the scenario can assert that nothing unexpected was reported.
function clientLogger(name, sink) {
  const debug = !!process.env.EUREKA_CLIENT_DEBUG;
  const fmt = (args) => args.map((a) => (a instanceof Error ? a.message : typeof a === 'object' ? JSON.stringify(a) : String(a))).join(' ');
  return {
    debug: (...a) => { if (debug) console.error(`[eureka-js-client ${name} debug] ${fmt(a)}`); },
    info: (...a) => { if (debug) console.error(`[eureka-js-client ${name} info] ${fmt(a)}`); },
    warn: (...a) => {
      const m = fmt(a);
      // Polling an app that is not (yet) known logs this; it is what the scenario waits out.
      if (m.startsWith('Unable to retrieve')) return;
      sink.push(`${name} warn: ${m}`);
      console.error(`[eureka-js-client ${name} warn] ${m}`);
    },
    error: (...a) => {
      const m = fmt(a);
      sink.push(`${name} error: ${m}`);
      console.error(`[eureka-js-client ${name} error] ${m}`);
    },
  };
}

class Scenario {
  constructor(args) {
    this.url = new URL(args.eureka);
    this.sync = args.sync;
    this.hold = args.hold;
    this.timeout = args.timeout * 1000;
    this.clients = [];
    this.reports = [];
    this.expectedReports = [];
  }

  mark(name) {
    const p = path.join(this.sync, name);
    fs.writeFileSync(`${p}.tmp`, String(Date.now()));
    fs.renameSync(`${p}.tmp`, p);
    log(`marker ${name}`);
  }

  async waitMarker(name) {
    const p = path.join(this.sync, name);
    const deadline = Date.now() + this.timeout * 2;
    while (!fs.existsSync(p)) {
      if (Date.now() > deadline) throw new Failure(`timed out after ${this.timeout * 2 / 1000}s waiting for marker ${name}`);
      await sleep(100);
    }
  }

  async eventually(what, probe) {
    const deadline = Date.now() + this.timeout;
    let observed;
    while (Date.now() < deadline) {
      const [ok, seen] = await probe();
      observed = seen;
      if (ok) return seen;
      await sleep(200);
    }
    throw new Failure(`timed out after ${this.timeout / 1000}s waiting until ${what}; last observed: ${JSON.stringify(observed)}`);
  }

  // Raw request to the server, not through the client: {status, body (parsed JSON if any)}.
  http(method, p) {
    return new Promise((resolve, reject) => {
      const req = http.request({
        host: this.url.hostname, port: this.url.port, method, path: p,
        headers: { Accept: 'application/json' }, timeout: 5000,
      }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { data += c; });
        res.on('end', () => {
          let body = data;
          if (data && res.statusCode === 200) {
            try { body = JSON.parse(data); } catch (e) {
              reject(new Failure(`${method} ${p}: body is not JSON (${e.message}): ${data.slice(0, 300)}`));
              return;
            }
          }
          resolve({ status: res.statusCode, body });
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => reject(new Failure(`${method} ${p}: ${e.message}`)));
      req.end();
    });
  }

  async serverInstance(id) {
    const { status, body } = await this.http('GET', `/eureka/v2/apps/JS-SVC/${encodeURIComponent(id)}`);
    if (status === 404) return null;
    check(status === 200, `GET /eureka/v2/apps/JS-SVC/${id} answered ${status}: ${body}`);
    return body.instance;
  }

  startClient(spec) {
    const c = new Eureka({
      logger: clientLogger(spec.name, this.reports),
      instance: spec.instance,
      eureka: Object.assign({
        heartbeatInterval: 1000,
        registryFetchInterval: 1000,
        maxRetries: 0,
        fetchMetadata: false,
      }, spec.eureka),
    });
    c.heartbeats = 0;
    c.registrations = 0;
    c.on('heartbeat', () => { c.heartbeats += 1; });
    c.on('registered', () => { c.registrations += 1; });
    c.name = spec.name;
    c.id = spec.id;
    this.clients.push(c);
    return new Promise((resolve, reject) => {
      c.start((err) => (err ? reject(new Failure(`${spec.name}: start() failed: ${err.message || err}`)) : resolve(c)));
    });
  }

  discovered(c, expected) {
    const norm = (list) => list.map((i) => `${i.ipAddr}:${i.port && i.port.$}:${i.status}`).sort();
    const want = expected.map(([ip, port]) => `${ip}:${port}:UP`).sort();
    const byApp = norm(c.getInstancesByAppId(PEER_APP));
    const byVip = norm(c.getInstancesByVipAddress('py-svc'));
    return [JSON.stringify(byApp) === JSON.stringify(want) && JSON.stringify(byVip) === JSON.stringify(want),
      { client: c.name, byApp, byVip }];
  }

  async run() {
    const port = Number(this.url.port);
    const host = this.url.hostname;
    const dc = { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' };
    const specs = [
      {
        name: 'js-1',
        id: 'js-svc-1',
        // Netflix's path, the client's default servicePath /eureka/v2/apps/.
        eureka: { host, port },
        instance: {
          app: 'js-svc', instanceId: 'js-svc-1', hostName: '127.0.20.1', ipAddr: '127.0.20.1',
          port: { $: 9001, '@enabled': true }, vipAddress: 'js-svc', secureVipAddress: 'js-svc',
          dataCenterInfo: dc, leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 10 },
          statusPageUrl: 'http://127.0.20.1:9001/info', healthCheckUrl: 'http://127.0.20.1:9001/health',
          homePageUrl: 'http://127.0.20.1:9001/', metadata: { client: 'eureka-js-client' },
        },
      },
      {
        name: 'js-2',
        id: '127.0.20.2', // no instanceId: the id is the hostName
        // Spring Cloud's path; no @class in dataCenterInfo; port and enabled as strings.
        eureka: { serviceUrls: { default: [`http://${host}:${port}/eureka/apps/`] } },
        instance: {
          app: 'js-svc', hostName: '127.0.20.2', ipAddr: '127.0.20.2',
          port: { $: '9002', '@enabled': 'true' }, vipAddress: 'js-svc', secureVipAddress: 'js-svc',
          dataCenterInfo: { name: 'MyOwn' }, leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 10 },
        },
      },
    ];

    // 1. Register.
    for (const spec of specs) await this.startClient(spec);
    const { status, body } = await this.http('GET', '/eureka/apps/js-svc');
    check(status === 200, `GET /eureka/apps/js-svc answered ${status}: ${body}`);
    const listed = body.application.instance;
    check(body.application.name === 'JS-SVC', `application name ${body.application.name}, expected JS-SVC`);
    check(Array.isArray(listed), `\`instance\` is not an array: ${JSON.stringify(body)}`);
    const ids = listed.map((i) => i.instanceId).sort();
    check(JSON.stringify(ids) === JSON.stringify(['127.0.20.2', 'js-svc-1']), `server lists JS-SVC ids ${ids}`);
    for (const i of listed) {
      const want = i.instanceId === 'js-svc-1' ? 9001 : 9002;
      check(i.app === 'JS-SVC' && i.status === 'UP', `${i.instanceId}: app ${i.app} status ${i.status}`);
      check(i.port.$ === want && i.port['@enabled'] === 'true', `${i.instanceId}: port ${JSON.stringify(i.port)}, expected {"$":${want},"@enabled":"true"}`);
      check(i.dataCenterInfo.name === 'MyOwn' && typeof i.dataCenterInfo['@class'] === 'string',
        `${i.instanceId}: dataCenterInfo ${JSON.stringify(i.dataCenterInfo)}`);
      check(i.leaseInfo.durationInSecs === 10, `${i.instanceId}: leaseInfo ${JSON.stringify(i.leaseInfo)}`);
    }
    log(`registered ${ids}`);

    // 2. Heartbeats: the clients' 'heartbeat' events (200 answers) and the server's lease.
    await this.heartbeatsRenew(this.clients, 2);
    this.mark('js.registered');
    if (this.hold) await this.waitMarker('harness.saw-registered');

    // 3. The server forgets js-1 (as after a restart): its next heartbeat gets 404 and the
    // client registers again by itself.
    const before = this.clients[0].registrations;
    const del = await this.http('DELETE', '/eureka/v2/apps/JS-SVC/js-svc-1');
    check(del.status === 200, `DELETE js-svc-1 answered ${del.status}`);
    this.expectedReports.push(/^js-1 warn: eureka heartbeat FAILED, Re-registering app$/);
    await this.eventually('js-1 registers again after its heartbeat got 404', async () => {
      const inst = await this.serverInstance('js-svc-1');
      const again = this.clients[0].registrations - before;
      return [again >= 1 && inst !== null && inst.status === 'UP', { registrations: again, server: inst && inst.status }];
    });
    await this.heartbeatsRenew(this.clients.slice(0, 1), 1);
    log('re-registered after a heartbeat 404');

    // 4. Discover PY-SVC through each client's own registry.
    for (const c of this.clients) {
      await this.eventually(`${c.name} discovers the 2 ${PEER_APP} instances`, async () => this.discovered(c, PEER));
    }
    log(`discovered ${PEER_APP}`);
    this.mark('js.discovered');
    await this.waitMarker('py.discovered');

    // 5. PY-SVC's instance 2 goes OUT_OF_SERVICE: the clients stop offering it ...
    await this.waitMarker('py.oos');
    for (const c of this.clients) {
      await this.eventually(`${c.name} drops the OUT_OF_SERVICE ${PEER_APP} instance`, async () => this.discovered(c, PEER.slice(0, 1)));
    }
    this.mark('js.saw-oos');
    // ... and offer it again once it is back UP.
    await this.waitMarker('py.restored');
    for (const c of this.clients) {
      await this.eventually(`${c.name} offers the restored ${PEER_APP} instance again`, async () => this.discovered(c, PEER));
    }
    log(`followed ${PEER_APP} instance 2 out of service and back`);

    this.mark('js.ready-to-stop');
    await this.waitMarker('py.ready-to-stop');
    if (this.hold) await this.waitMarker('go-stop');

    // 6. Deregister.
    for (const c of this.clients) {
      await new Promise((resolve, reject) => {
        c.stop((err) => (err ? reject(new Failure(`${c.name}: stop() failed: ${err.message || err}`)) : resolve()));
      });
      const inst = await this.serverInstance(c.id);
      check(inst === null, `${c.id} still registered after stop(): ${JSON.stringify(inst)}`);
    }
    const app = await this.http('GET', '/eureka/apps/JS-SVC');
    check(app.status === 404, `GET /eureka/apps/JS-SVC after every instance stopped answered ${app.status}, expected 404`);
    await sleep(2200);
    const again = await this.http('GET', '/eureka/apps/JS-SVC');
    check(again.status === 404, 'JS-SVC registered again after stop()');

    const unexpected = this.reports.filter((r) => !this.expectedReports.some((re) => re.test(r)));
    check(unexpected.length === 0, `the clients reported problems: ${JSON.stringify(unexpected)}`);
    log('deregistered');
    this.mark('js.stopped');
  }

  async heartbeatsRenew(clients, rounds) {
    const start = [];
    for (const c of clients) {
      const inst = await this.serverInstance(c.id);
      check(inst !== null, `${c.id} is not registered`);
      start.push({ beats: c.heartbeats, renewal: inst.leaseInfo.lastRenewalTimestamp });
    }
    const seen = await this.eventually(`${rounds} heartbeats renew ${clients.map((c) => c.id)}`, async () => {
      let ok = true;
      const observed = {};
      for (let n = 0; n < clients.length; n++) {
        const c = clients[n];
        const inst = await this.serverInstance(c.id);
        const renewal = inst ? inst.leaseInfo.lastRenewalTimestamp : null;
        const beats = c.heartbeats - start[n].beats;
        observed[c.id] = { heartbeats: beats, lastRenewalTimestamp: renewal };
        ok = ok && beats >= rounds && renewal !== null && renewal > start[n].renewal;
      }
      return [ok, observed];
    });
    log(`heartbeats renewed: ${JSON.stringify(seen)}`);
  }
}

async function main() {
  const watchdog = setTimeout(() => {
    console.error('FAIL [js]: the scenario did not finish within 240 s');
    process.exit(1);
  }, 240000);
  let scenario;
  try {
    scenario = new Scenario(parseArgs(process.argv.slice(2)));
    await scenario.run();
  } catch (e) {
    console.error(e instanceof Failure ? `FAIL [js]: ${e.message}` : `FAIL [js]: unexpected ${e.stack || e}`);
    process.exit(1);
  }
  clearTimeout(watchdog);
  console.log('OK [js]: 2 JS-SVC instances registered, heartbeated, re-registered after a 404, ' +
    'discovered PY-SVC and followed its status, deregistered');
  process.exit(0);
}

main();
