// Writes flows.json: mqtt in -> function (rules.js) -> join 1,000 -> influxdb batch,
// alarms -> mqtt out. Broker and InfluxDB ports come from the environment at run time
// (Node-RED substitutes ${VAR} in node properties).
const fs = require("fs");
const path = require("path");
const func = fs.readFileSync(path.join(__dirname, "rules.js"), "utf8");
const flow = [
    { id: "tab", type: "tab", label: "sitewatch job" },
    {
        id: "broker", type: "mqtt-broker", name: "site broker", broker: "127.0.0.1",
        port: "${MQTT_PORT}", clientid: "bench-nodered", autoConnect: true, usetls: false,
        protocolVersion: "5", keepalive: "30", cleansession: true,
        birthTopic: "", closeTopic: "", willTopic: "",
    },
    {
        id: "influx", type: "influxdb", hostname: "127.0.0.1", port: "${INFLUX_PORT}",
        protocol: "http", database: "sitewatch", name: "influx 1.x", usetls: false,
        influxdbVersion: "1.x",
    },
    {
        id: "in", type: "mqtt in", z: "tab", name: "telemetry", topic: "sitewatch/+/+/+/telemetry",
        qos: "1", datatype: "json", broker: "broker", nl: false, rap: false, inputs: 0,
        wires: [["rules"]],
    },
    {
        id: "rules", type: "function", z: "tab", name: "rules", func, outputs: 2,
        wires: [["join"], ["alarms"]],
    },
    {
        id: "join", type: "join", z: "tab", name: "batch 1000", mode: "custom", build: "array",
        property: "payload", propertyType: "msg", key: "topic", joiner: "\\n",
        joinerType: "str", accumulate: false, timeout: "1", count: "1000", reduceRight: false,
        wires: [["write"]],
    },
    {
        id: "write", type: "influxdb batch", z: "tab", influxdb: "influx", precision: "ms",
        retentionPolicy: "", name: "store", database: "", precisionV18FluxV20: "ms",
        retentionPolicyV18Flux: "", org: "", bucket: "", wires: [],
    },
    {
        id: "alarms", type: "mqtt out", z: "tab", name: "alarms", topic: "", qos: "1",
        retain: "false", broker: "broker", wires: [],
    },
];
// Node-RED tells flow nodes from config nodes by their position in the editor
flow.filter((n) => n.z).forEach((n, i) => Object.assign(n, { x: 150 + 200 * i, y: 100 }));
fs.writeFileSync(process.argv[2] || path.join(__dirname, "flows.json"), JSON.stringify(flow, null, 1));
