"""One folder per integration (virtual, bridge, nuki_web, ble_agent): its driver, its connection
services, webhooks or callbacks, API and views. `base` is the interface every driver
implements; `registry` knows which driver serves each kind."""
