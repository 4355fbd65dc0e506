/** Zeek's conn.log record (base/protocols/conn/main.zeek) in Zeek's type syntax, for tests. */

/** The conn record with `id` of type `idType`, each line after the first indented by `indent`. */
export function connRecord(
  idType = 'record { orig_h: addr; orig_p: port; resp_h: addr; resp_p: port }',
  indent = '',
): string {
  return [
    'record {',
    `  ts: time; uid: string; id: ${idType};`,
    '  proto: enum { unknown_transport, tcp, udp, icmp };',
    '  service: string &optional; duration: interval &optional;',
    '  orig_bytes: count &optional; resp_bytes: count &optional;',
    '  conn_state: string &optional; local_orig: bool &optional; local_resp: bool &optional;',
    '  missed_bytes: count &default=0; history: string &optional;',
    '  orig_pkts: count &optional; orig_ip_bytes: count &optional;',
    '  resp_pkts: count &optional; resp_ip_bytes: count &optional;',
    '  tunnel_parents: set[string] &optional;',
    '}',
  ].join(`\n${indent}`)
}
