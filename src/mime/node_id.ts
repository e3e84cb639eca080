/**
 * The node that composed a message: `X-Fannst-NodeID: <node_id>`, the header the original
 * Fannst server put on mail it wrote itself (test mail, bounces), so an operator of several
 * nodes can tell which one did. Mail merely received or relayed gets no such header; its
 * `Received:` line names the node instead.
 */

/** The header's name, spelled as the original spelled it. */
export const NODE_ID_HEADER = "X-Fannst-NodeID";

/** Longest node id written into a header; a longer one is cut. */
const MAX_NODE_ID = 64;

/**
 * `node_id` made safe for a header: it comes from the config, and it is written both as an
 * unstructured value and inside the comment of `Received:` (RFC 5322 §3.2.2), so anything but
 * visible ASCII, and the comment and quoting delimiters `( ) \ "`, become `_`; never empty.
 */
export function headerNodeId(nodeId: string): string {
  return nodeId.replace(/[^\x21-\x7e]|[()\\"]/g, "_").slice(0, MAX_NODE_ID) || "_";
}

/** The whole header line, without its CRLF: `X-Fannst-NodeID: node-1`. */
export function nodeIdHeader(nodeId: string): string {
  return `${NODE_ID_HEADER}: ${headerNodeId(nodeId)}`;
}
