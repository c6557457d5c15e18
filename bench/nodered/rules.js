// The default rule pack's HVAC rules as a Node-RED user writes them in a function node
// (rules/packs/default.yaml: hvac.zone_temp_high with a 300 s on-delay and a clear
// threshold, hvac.filter_clogged after 600 s, hvac.fault), with per-device state in the
// node's context. Output 1: one InfluxDB point per message; output 2: alarm changes.
const parts = msg.topic.split("/");           // sitewatch/<site>/<system>/<device>/<kind>
if (parts.length !== 5 || parts[4] !== "telemetry" || typeof msg.payload !== "object") {
    return null;
}
const site = parts[1], system = parts[2], device = parts[3];
const body = msg.payload;
const v = body.values || body;
const ts = typeof body.ts === "number" ? body.ts : Date.now();
const fields = {};
for (const k in v) {
    const x = v[k];
    if (k === "ts") continue;
    if (typeof x === "number" && isFinite(x)) fields[k] = x;
    else if (typeof x === "boolean" || typeof x === "string") fields[k] = x;
}
let state = context.get(device);
if (state === undefined) {
    state = { hot: false, hotSince: null, clog: false, clogSince: null, fault: false };
    context.set(device, state);
}
const alarms = [];
function change(rule, active, value) {
    alarms.push({
        topic: `sitewatch/${site}/alarms/${rule}/${device}`,
        payload: JSON.stringify({ rule, device, site, system, active, value, ts }),
    });
}
if (system === "hvac") {
    const fan = fields.fan === undefined ? true : fields.fan;
    if ("zone_temp" in fields && "setpoint" in fields) {
        if (!state.hot) {
            if (fields.zone_temp > fields.setpoint + 3 && fan !== false) {
                if (state.hotSince === null) state.hotSince = ts;
                if (ts - state.hotSince >= 300000) { state.hot = true; change("hvac.zone_temp_high", true, fields.zone_temp); }
            } else {
                state.hotSince = null;
            }
        } else if (fields.zone_temp < fields.setpoint + 2) {
            state.hot = false; state.hotSince = null; change("hvac.zone_temp_high", false, fields.zone_temp);
        }
    }
    if ("filter_dp" in fields) {
        if (fields.filter_dp > 250) {
            if (state.clogSince === null) state.clogSince = ts;
            if (!state.clog && ts - state.clogSince >= 600000) { state.clog = true; change("hvac.filter_clogged", true, fields.filter_dp); }
        } else {
            state.clogSince = null; state.clog = false;
        }
    }
    if ("fault_code" in fields) {
        const f = fields.fault_code !== 0;
        if (f !== state.fault) { state.fault = f; change("hvac.fault", f, fields.fault_code); }
    }
}
const point = { measurement: system, tags: { site, device }, fields, timestamp: new Date(ts) };
return [{ payload: point }, alarms.length ? alarms : null];
