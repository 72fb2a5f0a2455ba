-- Parametric QR codes (带参数二维码) the account created through wxgate: what each scene's code is,
-- so operators can list them and print them again. A permanent scene asked for twice gets the
-- same ticket from WeChat, hence the ticket as key.
CREATE TABLE qrcodes (
    ticket      TEXT PRIMARY KEY NOT NULL,
    scene       TEXT NOT NULL,              -- as scans report it (decimal text for scene_id)
    kind        TEXT NOT NULL,              -- QR_SCENE, QR_STR_SCENE, QR_LIMIT_SCENE, QR_LIMIT_STR_SCENE
    url         TEXT NOT NULL,              -- what the image encodes (http://weixin.qq.com/q/…)
    image_url   TEXT NOT NULL,              -- showqrcode address of the image
    expires_at  BIGINT,                     -- unix seconds; NULL for permanent codes
    created_at  BIGINT NOT NULL
);
CREATE INDEX qrcodes_by_scene ON qrcodes (scene);
