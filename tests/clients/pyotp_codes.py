"""An authenticator that is not ours: pyotp reads the otpauth:// URI the
setup page shows and prints the code for each unix time given, one per line.

    python pyotp_codes.py 'otpauth://totp/…' 59 1111111109 …
"""
import sys

import pyotp

totp = pyotp.parse_uri(sys.argv[1])
assert isinstance(totp, pyotp.TOTP), "a time-based URI"
assert totp.issuer == "TradeBot", totp.issuer
for when in sys.argv[2:]:
    print(totp.at(int(when)))
