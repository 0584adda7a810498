// Preload for @modelcontextprotocol/conformance (node --import this-file).
//
// The suite has no option for extra HTTP headers, but the gateway wants an
// API key on every request.  This module adds
//
//     Authorization: Bearer $MCP_CONFORMANCE_BEARER
//
// to every request the suite sends to the server under test
// ($MCP_CONFORMANCE_TARGET, an origin such as http://127.0.0.1:8787).  The
// suite sends HTTP three ways, all covered here:
//
//   * global fetch (the SDK client and most raw probes) and
//   * undici.request (dns-rebinding-protection) both go through undici's
//     global dispatcher, which we replace by one with an interceptor;
//   * node:http request() (the http-header-validation probes), which we wrap.
//
// A request that already carries an Authorization header keeps it.  Requests
// to any other origin are left alone, so the key never leaves the target.

import http from 'node:http';
import { Agent, setGlobalDispatcher } from 'undici';

const bearer = process.env.MCP_CONFORMANCE_BEARER || '';
const target = process.env.MCP_CONFORMANCE_TARGET ? new URL(process.env.MCP_CONFORMANCE_TARGET) : null;

function forTarget(protocol, host, port) {
  if (!target) return true;
  const defaultPort = protocol === 'https:' ? '443' : '80';
  return target.protocol === protocol && target.hostname === host &&
    (target.port || defaultPort) === String(port || defaultPort);
}

function hasAuthorization(headers) {
  if (headers == null) return false;
  if (Array.isArray(headers)) {
    // undici's flat form [name, value, name, value, ...]
    for (let i = 0; i < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === 'authorization') return true;
    }
    return false;
  }
  if (typeof headers[Symbol.iterator] === 'function') {
    for (const [name] of headers) if (String(name).toLowerCase() === 'authorization') return true;
    return false;
  }
  return Object.keys(headers).some((name) => name.toLowerCase() === 'authorization');
}

function withAuthorization(headers) {
  const value = `Bearer ${bearer}`;
  if (headers == null) return { authorization: value };
  if (hasAuthorization(headers)) return headers;
  if (Array.isArray(headers)) return [...headers, 'authorization', value];
  if (typeof headers[Symbol.iterator] === 'function') {
    return [...Array.from(headers, ([n, v]) => [n, v]).flat(), 'authorization', value];
  }
  return { ...headers, authorization: value };
}

if (bearer) {
  // fetch and undici.request
  const inject = (dispatch) => (opts, handler) => {
    let add = true;
    try {
      const origin = new URL(String(opts.origin));
      add = forTarget(origin.protocol, origin.hostname, origin.port);
    } catch {
      add = !target;
    }
    return dispatch(add ? { ...opts, headers: withAuthorization(opts.headers) } : opts, handler);
  };
  setGlobalDispatcher(new Agent().compose(inject));

  // node:http request(options[, callback]) and request(url[, options][, callback])
  const originalRequest = http.request;
  http.request = function request(...args) {
    let options;
    if (typeof args[0] === 'string' || args[0] instanceof URL) {
      const url = new URL(args[0]);
      if (args[1] && typeof args[1] === 'object') {
        options = args[1];
      } else {
        options = {};
        args.splice(1, 0, options);
      }
      if (!forTarget(url.protocol, url.hostname, options.port || url.port)) {
        return originalRequest.apply(this, args);
      }
      args[1] = { ...options, headers: withAuthorization(options.headers) };
    } else if (args[0] && typeof args[0] === 'object') {
      options = args[0];
      const host = options.hostname || (options.host || 'localhost').replace(/:\d+$/, '');
      if (forTarget(options.protocol || 'http:', host, options.port)) {
        args[0] = { ...options, headers: withAuthorization(options.headers) };
      }
    }
    return originalRequest.apply(this, args);
  };
}
