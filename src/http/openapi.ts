/**
 * The OpenAPI 3.1 description of the HTTP API (`/api/v1/openapi.json`): the two message
 * routes and this document, with every status the handlers answer. Autoconfig, /metrics and
 * /healthz are for clients and monitors, not API callers, and are described in the README.
 */
import { ERROR_STATUS } from "./http_error.ts";

const error = (description: string) => ({
  description,
  content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
});

const unauthorized = {
  ...error("Missing, unknown or revoked token."),
  headers: { "WWW-Authenticate": { schema: { type: "string" } } },
};

const addresses = {
  oneOf: [
    { type: "string" },
    { type: "array", items: { type: "string" }, minItems: 1 },
  ],
  description: 'An address or "Name <address>", or a list of them.',
};

/** The document for a server whose host name is `hostname`. */
export function openApiDocument(hostname: string, version: string): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "fsmtp HTTP API",
      version,
      description: "Send mail as a user of this server and read its delivery status. " +
        "Tokens are made with `fsmtp --token ADDRESS`.",
    },
    servers: [{ url: `https://${hostname}` }],
    security: [{ bearer: [] }],
    paths: {
      "/api/v1/messages": {
        post: {
          operationId: "sendMessage",
          summary: "Compose (JSON) or take (message/rfc822) a message, DKIM-sign and queue it.",
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: { $ref: "#/components/schemas/NewMessage" } },
              "message/rfc822": {
                schema: { type: "string", contentMediaType: "message/rfc822" },
                description: "A whole RFC 5322 message; recipients are taken from To, Cc " +
                  "and Bcc, and Bcc is removed before sending.",
              },
            },
          },
          responses: {
            "202": {
              description: "Accepted: stored locally and/or queued.",
              headers: { Location: { schema: { type: "string" } } },
              content: {
                "application/json": { schema: { $ref: "#/components/schemas/Accepted" } },
              },
            },
            "400": error("Malformed JSON, invalid fields, or an unknown local recipient."),
            "401": unauthorized,
            "403": error("A From: address is not the token user's."),
            "408": error("The body did not arrive within limits.command_timeout."),
            "413": error("Larger than limits.max_message_size (plus base64 overhead)."),
            "415": error("Content-Type is neither application/json nor message/rfc822."),
            "429": {
              ...error("Over http.rate_limit messages a minute for this token."),
              headers: { "Retry-After": { schema: { type: "integer" } } },
            },
            "503": error("Remote recipients cannot be queued now."),
          },
        },
      },
      "/api/v1/messages/{id}": {
        get: {
          operationId: "messageStatus",
          summary: "Delivery status per recipient of a message this token's user sent.",
          parameters: [{ name: "id", in: "path", required: true, schema: { type: "string" } }],
          responses: {
            "200": {
              description: "The status.",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Status" } } },
            },
            "401": unauthorized,
            "404": error("No such message of this user (or its status has expired)."),
          },
        },
      },
      "/api/v1/openapi.json": {
        get: {
          operationId: "openApi",
          summary: "This document.",
          security: [],
          responses: { "200": { description: "OpenAPI 3.1 JSON." } },
        },
      },
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
      schemas: {
        NewMessage: {
          type: "object",
          additionalProperties: false,
          required: ["from"],
          properties: {
            from: { type: "string", description: "The token user's address (or Name <address>)." },
            to: addresses,
            cc: addresses,
            bcc: addresses,
            subject: { type: "string" },
            text: { type: "string" },
            html: { type: "string" },
            attachments: {
              type: "array",
              items: {
                type: "object",
                additionalProperties: false,
                required: ["filename", "content"],
                properties: {
                  filename: { type: "string" },
                  contentType: { type: "string" },
                  content: { type: "string", contentEncoding: "base64" },
                },
              },
            },
            headers: {
              type: "object",
              additionalProperties: { type: "string" },
              description: "More header fields; structural and trace fields are refused.",
            },
          },
          description: "Give text or html (or both) and at least one recipient.",
        },
        Accepted: {
          type: "object",
          required: ["id", "status", "recipients", "statusUrl"],
          properties: {
            id: { type: "string" },
            status: { const: "queued" },
            recipients: { type: "integer" },
            statusUrl: { type: "string" },
          },
        },
        Status: {
          type: "object",
          required: ["id", "createdAt", "recipients"],
          properties: {
            id: { type: "string" },
            createdAt: { type: "string", format: "date-time" },
            recipients: {
              type: "array",
              items: {
                type: "object",
                required: ["address", "status", "updatedAt"],
                properties: {
                  address: { type: "string" },
                  status: { enum: ["queued", "deferred", "delivered", "bounced"] },
                  detail: { type: "string", description: "The last reply." },
                  updatedAt: { type: "string", format: "date-time" },
                },
              },
            },
          },
        },
        Error: {
          type: "object",
          required: ["error"],
          properties: {
            error: {
              type: "object",
              required: ["code", "message"],
              properties: {
                code: { enum: Object.keys(ERROR_STATUS) },
                message: { type: "string" },
              },
            },
          },
        },
      },
    },
  };
}
