// What the broadcast form will send: pasted numbers as JSON recipients (their lines kept for the report), or a
// CSV (uploaded, or pasted with a header row) as a multipart upload.
const HEADER = /^(phone|number|nomor|hp|whatsapp|no_hp|nohp|phone_number|wa)\b/i;

export function pasted(text) {
  const lines = text.split(/\r?\n/);
  const firstUsed = lines.find((l) => l.trim());
  if (firstUsed && HEADER.test(firstUsed.trim())) return { csv: new Blob([text], { type: 'text/csv' }), lines: null };
  const recipients = [];
  const lineOf = [];
  lines.forEach((line, index) => {
    if (!line.trim()) return;
    const [phone, ...rest] = line.split(/[,;\t]/);
    const name = rest.join(' ').trim();
    recipients.push(name ? { phone: phone.trim(), name } : { phone: phone.trim() });
    lineOf.push(index + 1);
  });
  return { recipients, lineOf };
}

export function countLines(text) {
  return text.split(/\r?\n/).filter((l) => l.trim()).length;
}

// The request body for preview and create: JSON, or FormData when a CSV goes along.
export function requestBody(form) {
  const fields = { name: form.name.value.trim() || `Broadcast ${new Date().toLocaleString()}`,
    template: form.template.value, session: form.session.value || undefined };
  if (form.start_at.value) fields.start_at = new Date(form.start_at.value).toISOString();
  let csv = null;
  let lineOf = null;
  if (form.source.value === 'file') {
    csv = form.file.files[0] || null;
    if (!csv) throw new Error('Choose a CSV file.');
  } else {
    const parsed = pasted(form.numbers.value);
    if (parsed.csv) csv = parsed.csv;
    else {
      if (!parsed.recipients.length) throw new Error('Paste at least one number.');
      fields.recipients = parsed.recipients;
      lineOf = parsed.lineOf;
    }
  }
  if (!csv) return { json: fields, lineOf };
  const body = new FormData();
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) body.set(key, value);
  body.set('file', csv, csv.name || 'recipients.csv');
  return { form: body, lineOf: null };
}
