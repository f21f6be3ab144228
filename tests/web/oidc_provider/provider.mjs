// A real OpenID Connect provider (panva's oidc-provider) on a loopback port, for
// tests/web/test_oidc.py only: never shipped, never reachable from outside the machine.
//
// Configured by the environment:
//   OIDC_PORT          the port to listen on (127.0.0.1)
//   OIDC_REDIRECT_URI  the one redirect URI of the static client (Zhiku's callback)
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET
//   OIDC_ACCOUNTS      JSON: {"<login>": {"sub": "...", "email": "...", "email_verified": true}}
// People sign in through the development interactions (a login form: any password; the
// login names the account), then consent; ID tokens are RS256-signed with keys made at start.
import { generateKeyPairSync } from "node:crypto";
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT);
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || "{}");
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signing = { ...privateKey.export({ format: "jwk" }), kid: "test-rs256", alg: "RS256", use: "sig" };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: [process.env.OIDC_REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks: { keys: [signing] },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["zhiku-test-only-cookie-key"] },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: account.sub, email: account.email, email_verified: account.email_verified };
      },
    };
  },
});

provider.listen(port, "127.0.0.1", () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
