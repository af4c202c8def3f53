"""XenAPI failures: an error code and its parameters, sent as ErrorDescription."""


class XapiError(Exception):
    """A XenAPI failure. ``params`` are stringified, as xapi sends them."""

    def __init__(self, code, *params):
        super().__init__(code, *params)
        self.code = code
        self.params = [str(p) for p in params]

    @property
    def description(self):
        return [self.code] + self.params

    def __str__(self):
        return "%s %s" % (self.code, self.params)
