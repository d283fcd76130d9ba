// A small JSON Schema checker for the server tests (object, string, integer, boolean, array;
// required, properties, additionalProperties, enum, minimum/maximum, maxLength, maxItems), written
// here so that output is checked by code independent of the server's grammar.
export function validate(value, schema, where = '$') {
  const fail = (msg) => { throw new Error(`${where}: ${msg} (value ${JSON.stringify(value)})`); };
  if (schema.enum && !schema.enum.includes(value)) fail(`not one of ${JSON.stringify(schema.enum)}`);
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not an object');
      for (const key of schema.required || []) if (!(key in value)) fail(`missing required key "${key}"`);
      for (const [key, v] of Object.entries(value)) {
        if (schema.properties && key in schema.properties) validate(v, schema.properties[key], `${where}.${key}`);
        else if (schema.additionalProperties === false) fail(`unexpected key "${key}"`);
      }
      break;
    }
    case 'string':
      if (typeof value !== 'string') fail('not a string');
      if (schema.maxLength !== undefined && [...value].length > schema.maxLength) fail(`longer than ${schema.maxLength}`);
      break;
    case 'integer':
      if (!Number.isInteger(value)) fail('not an integer');
      if (schema.minimum !== undefined && value < schema.minimum) fail(`below minimum ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) fail(`above maximum ${schema.maximum}`);
      break;
    case 'boolean':
      if (typeof value !== 'boolean') fail('not a boolean');
      break;
    case 'array':
      if (!Array.isArray(value)) fail('not an array');
      if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`more than ${schema.maxItems} items`);
      value.forEach((item, i) => validate(item, schema.items, `${where}[${i}]`));
      break;
    default:
      if (schema.type) throw new Error(`validator: unsupported type ${schema.type}`);
  }
}

export function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: not valid JSON (${e.message}): ${JSON.stringify(text)}`);
  }
}
