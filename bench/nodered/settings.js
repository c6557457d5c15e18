// Node-RED settings for the benchmark: no editor, no admin API, flows from flows.json.
module.exports = {
    uiPort: parseInt(process.env.NODE_RED_PORT || "1880", 10),
    uiHost: "127.0.0.1",
    httpAdminRoot: false,
    httpNodeRoot: false,
    flowFile: "flows.json",
    credentialSecret: false,
    logging: { console: { level: "info", metrics: false, audit: false } },
    editorTheme: { tours: false },
    functionExternalModules: false,
    externalModules: { autoInstall: false },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    telemetry: { enabled: false },
};
