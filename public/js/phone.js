// Phone numbers as typed: the same shapes the gateway accepts (international +…, local 0…, or a WhatsApp JID).
const JID = /^[0-9]{5,20}@(s\.whatsapp\.net|c\.us|g\.us|lid)$/;

// null when fine, else what is wrong, phrased for the person typing.
export function phoneProblem(value) {
  const text = value.trim();
  if (!text) return 'Enter a phone number.';
  if (text.includes('@')) return JID.test(text) ? null : 'That is not a WhatsApp address (digits@s.whatsapp.net).';
  if (/[^0-9+\-\s().]/.test(text)) return 'Use digits only (spaces, dashes and a leading + are fine).';
  if (text.indexOf('+') > 0) return 'A + may only come first.';
  const digits = text.replace(/\D/g, '');
  if (digits.length < 8) return `Too short: ${digits.length} digits, at least 8.`;
  if (digits.length > 15) return `Too long: ${digits.length} digits, at most 15.`;
  if (!text.startsWith('+') && !digits.startsWith('0') && digits.length < 10) {
    return 'Add the country code (+62…) or start a local number with 0.';
  }
  return null;
}

// Validate an input as it is typed: aria-invalid plus the reason in its hint (restored when fixed).
export function validateAsTyped(input, hint) {
  const original = hint.textContent;
  const check = () => {
    const problem = input.value ? phoneProblem(input.value) : null;
    input.setAttribute('aria-invalid', problem ? 'true' : 'false');
    hint.textContent = problem || original;
    hint.classList.toggle('hint-error', Boolean(problem));
    return !problem && Boolean(input.value.trim());
  };
  input.addEventListener('input', check);
  input.addEventListener('blur', check);
  return check;
}
