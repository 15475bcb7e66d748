/**
 * The parameters of MAIL FROM and RCPT TO (`ENVID=…`, `ORCPT=…`, `SIZE=…`) before
 * smtp-server parses the command. smtp-server refuses a value with control characters
 * once xtext-decoded (`ENVID=a+0D+0Ab`), rightly, but answers as if the address were bad
 * (501 5.1.7 Bad sender address syntax), which sends the client looking in the wrong place.
 * The ingress finds the parameter first and names it in its reply.
 */

// What smtp-server counts as control characters in a parameter value.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters
const CONTROLS = /[\x00-\x1f\x7f-\x9f]/;
const NAME = /^[A-Za-z0-9-]{1,20}$/;

/** RFC 3461 xtext, decoded as smtp-server does it: "+XX" is one octet. */
function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-F]{2})/g, (_match, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/**
 * The name of the first parameter whose value has a control character once decoded, in
 * upper case; "parameter" when its name cannot be quoted back. Undefined when none has.
 */
export function parameterWithControls(command: string): string | undefined {
  const [, ...afterColon] = command.split(':');
  const [, ...parameters] = afterColon.join(':').trim().split(/\s+/);
  for (const parameter of parameters) {
    const [name = '', ...value] = parameter.split('=');
    if (value.length === 0) continue;
    if (CONTROLS.test(decodeXtext(value.join('=')))) {
      return NAME.test(name) ? name.toUpperCase() : 'parameter';
    }
  }
  return undefined;
}
